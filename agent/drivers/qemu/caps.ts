/**
 * QEMU capability probing: version, machine types (with aliases) and KVM availability.
 * The parsers are pure and tested on captured output; `probeQemu` does the I/O and caches
 * per binary path + mtime so a package upgrade is noticed without restarting the agent.
 */
import { constants as fsc } from "node:fs";
import { access, open, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { AgentError } from "../../model/errors.js";
import type { MachineType, QemuCaps } from "./command.js";

/**
 * QEMU's per-machine vCPU limits are only exposed by QMP query-machines; until the driver
 * fills them from there, use the 7.2 values: q35 288, i440fx 255.
 */
const DEFAULT_MAX_CPUS = { q35: 288, other: 255 } as const;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Parses `qemu-system-x86_64 -version` ("QEMU emulator version 7.2.22 (Debian ...)").
 * @throws AgentError operation_failed when no version is found.
 */
export function parseVersion(text: string): QemuCaps["version"] {
  const m = /QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) throw new AgentError("operation_failed", `cannot find a version in QEMU's -version output: ${JSON.stringify(text.slice(0, 80))}`, { component: "qemu" });
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3] ?? 0) };
}

function maxCpusFor(name: string): number {
  return name.includes("q35") ? DEFAULT_MAX_CPUS.q35 : DEFAULT_MAX_CPUS.other;
}

/**
 * Parses `-machine help`. An alias line ("pc  ... (alias of pc-i440fx-7.2)") does not make
 * a machine of its own: it sets `alias` on its target. "(default)" and "(deprecated)"
 * become flags.
 */
export function parseMachineHelp(text: string): MachineType[] {
  const machines = new Map<string, MachineType>();
  const aliases: Array<[string, string]> = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trimEnd());
    if (!m?.[1] || !m[2] || line.startsWith("Supported machines")) continue;
    const [name, desc] = [m[1], m[2]];
    const alias = /\(alias of ([^)\s]+)\)/.exec(desc);
    if (alias?.[1]) {
      aliases.push([name, alias[1]]);
      continue;
    }
    machines.set(name, { name, isDefault: desc.includes("(default)"), deprecated: desc.includes("(deprecated)"), maxCpus: maxCpusFor(name) });
  }
  for (const [alias, target] of aliases) {
    const t = machines.get(target);
    if (t) t.alias = alias;
  }
  return [...machines.values()];
}

/**
 * The canonical machine type for a requested name or alias; the binary's default when
 * nothing is requested.
 * @throws AgentError config_unsupported naming the machine when the binary lacks it.
 */
export function canonicalMachine(caps: QemuCaps, requested?: string): string {
  if (requested === undefined) {
    const def = caps.machines.find((m) => m.isDefault);
    if (!def) throw new AgentError("config_unsupported", `${caps.binary} reports no default machine type`, { component: "qemu" });
    return def.name;
  }
  const hit = caps.machines.find((m) => m.name === requested || m.alias === requested);
  if (!hit) {
    throw new AgentError("config_unsupported", `machine type '${requested}' is not supported by ${caps.binary}`, {
      component: "qemu",
      details: { machine: requested },
    });
  }
  return hit.name;
}

/** True when /dev/kvm can be opened read-write (what QEMU's -accel kvm needs first). */
export async function probeKvm(path = "/dev/kvm"): Promise<boolean> {
  try {
    const fh = await open(path, fsc.O_RDWR);
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

async function runQemu(binary: string, args: string[]): Promise<string> {
  try {
    const r = await execa(binary, args, { timeout: PROBE_TIMEOUT_MS, stdin: "ignore", env: { LC_ALL: "C" } });
    return r.stdout;
  } catch (e) {
    throw new AgentError("operation_failed", `probing ${binary} ${args.join(" ")} failed`, { component: "qemu", cause: e });
  }
}

/** A bare name is looked up in PATH (what execa will run), so the cache key's mtime is the real file's. */
async function resolveBinary(binary: string): Promise<string> {
  if (binary.includes("/")) return binary;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const p = join(dir, binary);
    if (await access(p, fsc.X_OK).then(() => true, () => false)) return p;
  }
  throw new Error(`${binary} not found in PATH`);
}

const cache = new Map<string, { mtimeMs: number; caps: Promise<QemuCaps> }>();

async function probeUncached(binary: string): Promise<QemuCaps> {
  const [versionText, machineText, kvm] = await Promise.all([
    runQemu(binary, ["-version"]),
    runQemu(binary, ["-machine", "help"]),
    probeKvm(),
  ]);
  return { binary, version: parseVersion(versionText), machines: parseMachineHelp(machineText), kvm };
}

/**
 * Probes a QEMU binary (no shell: execa with an argument array). Cached per path and mtime.
 * @throws AgentError operation_failed when the binary is missing or its output is not understood.
 */
export async function probeQemu(binary: string): Promise<QemuCaps> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(await resolveBinary(binary))).mtimeMs;
  } catch (e) {
    throw new AgentError("operation_failed", `QEMU binary ${binary} not found (Debian package qemu-system-x86)`, { component: "qemu", cause: e });
  }
  const hit = cache.get(binary);
  if (hit && hit.mtimeMs === mtimeMs) return hit.caps;
  const caps = probeUncached(binary);
  cache.set(binary, { mtimeMs, caps });
  caps.catch(() => cache.delete(binary));
  return caps;
}
