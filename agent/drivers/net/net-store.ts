/**
 * Persistent network definitions: one JSON file per network under <stateDir>/network/,
 * replaced atomically (`{v, xml, autostart}`; the XML is the source of truth, as libvirt's
 * /etc/libvirt/qemu/networks/*.xml).
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { removeFileDurable, writeFileAtomic } from "../../core/atomic-file.js";
import type { NetworkDef } from "../../model/network-def.js";
import * as networkXml from "../../model/network-xml.js";
import { validateNetworkDef } from "../../model/network-validate.js";

export interface StoredNetwork {
  def: NetworkDef;
  autostart: boolean;
}

export function networkDir(stateDir: string): string {
  return join(stateDir, "network");
}

function fileOf(stateDir: string, name: string): string {
  return join(networkDir(stateDir), `${name}.json`);
}

export async function saveNetwork(stateDir: string, n: StoredNetwork): Promise<void> {
  await mkdir(networkDir(stateDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(fileOf(stateDir, n.def.name), `${JSON.stringify({ v: 1, xml: networkXml.format(n.def), autostart: n.autostart })}\n`);
}

export async function deleteNetwork(stateDir: string, name: string): Promise<void> {
  await removeFileDurable(fileOf(stateDir, name));
}

/** Loads every stored network; unreadable files are reported through `onBad` and skipped. */
export async function loadNetworks(stateDir: string, onBad: (file: string, err: unknown) => void): Promise<StoredNetwork[]> {
  const dir = networkDir(stateDir);
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json") && !f.startsWith("."));
  const out: StoredNetwork[] = [];
  for (const f of files) {
    try {
      const raw = JSON.parse(await readFile(join(dir, f), "utf8")) as { v?: number; xml?: unknown; autostart?: unknown };
      if (raw.v !== 1 || typeof raw.xml !== "string") throw new Error("not a virtbus network file");
      const def = networkXml.parse(raw.xml);
      validateNetworkDef(def);
      out.push({ def, autostart: raw.autostart === true });
    } catch (err) {
      onBad(f, err);
    }
  }
  return out;
}
