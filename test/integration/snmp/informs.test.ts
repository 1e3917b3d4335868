import { execa, type ResultPromise } from "execa";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { requireTool, settings } from "./tools.js";

/** A UDP port free a moment ago (snmptrapd binds it later). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startTrapd(dir: string, port: number): Promise<{ proc: ResultPromise; out: () => string }> {
  const conf = join(dir, "trapd.conf");
  // No -e: for an INFORM the receiver is the authoritative engine, so the user is keyed to snmptrapd's own engine ID.
  await writeFile(conf, "createUser admin SHA-256 admin-auth-pass AES admin-priv-pass\nauthUser log admin\n");
  const proc = execa(requireTool("snmptrapd"), ["-f", "-Lo", "-n", "-On", "-C", "-c", conf, "-M", "/nonexistent", "-m", "", `--persistentDir=${dir}`, `udp:127.0.0.1:${port}`], {
    reject: false,
    env: { MIBS: "", SNMPCONFPATH: dir },
  });
  let text = "";
  proc.stdout?.on("data", (b: Buffer) => (text += b.toString()));
  proc.stderr?.on("data", (b: Buffer) => (text += b.toString()));
  return { proc, out: () => text };
}

async function waitFor(get: () => string, re: RegExp, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!re.test(get()) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return re.test(get());
}

describe("SNMPv3 informs", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let dir: string;
  let trapd: { proc: ResultPromise; out: () => string } | undefined;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "virtbus-inform-"));
    port = await freeUdpPort();
    h = await makeHarness({ demoDomains: 1 });
    const base = settings();
    const sinks = [{ host: "127.0.0.1", port, version: "3" as const, user: "admin", inform: true }];
    exporter = new SnmpExporter({
      services: h.services,
      dispatcher: h.dispatcher,
      config: { ...base, notifications: { ...base.notifications, retries: 4, timeout_ms: 400, sinks } },
      stateDir: dir,
      log: h.services.log,
    });
    await exporter.start();
  });
  afterAll(async () => {
    await exporter?.stop();
    trapd?.proc.kill();
    await trapd?.proc;
    await rm(dir, { recursive: true, force: true });
  });

  it("an inform sent while snmptrapd is down is retried and arrives once snmptrapd is up", async () => {
    const g = h.store.listDomains()[0]!;
    await h.dispatcher.dispatch("domain.suspend", { domain: g.uuid }, { user: "t", via: "internal" });
    await new Promise((r) => setTimeout(r, 600)); // the first attempt goes nowhere
    trapd = await startTrapd(dir, port);
    const arrived = await waitFor(trapd.out, /= OID: \.1\.3\.6\.1\.2\.1\.236\.0\.4(\s|$)/, 10_000);
    expect(arrived, trapd.out()).toBe(true);
    expect(trapd.out()).toContain(`"${g.name}"`);
  }, 20_000);
});
