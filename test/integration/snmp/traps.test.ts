import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { startTrapd, type Trapd } from "./snmpd.js";
import { settings } from "./tools.js";

async function waitFor(get: () => string, re: RegExp, ms = 8000): Promise<string> {
  const t0 = Date.now();
  while (!re.test(get()) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return get();
}

describe("SNMP notifications", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let dir: string;
  let v2: Trapd;
  let v3: Trapd;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "virtbus-snmptrap-"));
    const base = 20000 + Math.floor(Math.random() * 20000);
    const engineId = "80001f8805" + "a1b2c3d4e5f60718293a4b5c";
    v2 = await startTrapd(dir, "v2", base, "authCommunity log trapcomm\n");
    v3 = await startTrapd(dir, "v3", base + 1, `createUser -e 0x${engineId} admin SHA-256 admin-auth-pass AES admin-priv-pass\nauthUser log admin\n`);
    h = await makeHarness({ demoDomains: 2 });
    const sinks = [
      { host: "127.0.0.1", port: base, version: "2c" as const, community: "trapcomm", inform: false },
      { host: "127.0.0.1", port: base + 1, version: "3" as const, user: "admin", inform: false },
    ];
    const base_ = settings();
    exporter = new SnmpExporter({
      services: h.services,
      dispatcher: h.dispatcher,
      config: { ...base_, engine_id: engineId, notifications: { ...base_.notifications, sinks } },
      stateDir: dir,
      log: h.services.log,
    });
    await exporter.start();
  });
  afterAll(async () => {
    await exporter?.stop();
    v2?.proc.kill();
    v3?.proc.kill();
    await Promise.allSettled([v2?.proc, v3?.proc]);
    await rm(dir, { recursive: true, force: true });
  });

  it("starting a guest sends libvirtGuestNotif and vmRunning with row-indexed varbinds over v2c and v3", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    exporter.source.view(); // assigns vmIndexes
    await h.dispatcher.dispatch("domain.start", { domain: g.uuid }, { user: "t", via: "internal" });
    const row = uuidToIndex(g.uuid).join(".");
    for (const sink of [v2, v3]) {
      const text = await waitFor(sink.out, /1\.3\.6\.1\.2\.1\.236\.0\.1\b/);
      expect(text).toMatch(/\.1\.3\.6\.1\.6\.3\.1\.1\.4\.1\.0 = OID: \.1\.3\.6\.1\.4\.1\.36957\.0\.1/);
      expect(text).toContain(`.1.3.6.1.4.1.36957.1.1.1.2.${row} = STRING: "${g.name}"`);
      expect(text).toContain(`.1.3.6.1.4.1.36957.1.1.1.3.${row} = INTEGER: 1`);
      expect(text).toContain(`.1.3.6.1.4.1.36957.1.1.1.9.${row} = INTEGER: 1`);
      expect(text).toMatch(/\.1\.3\.6\.1\.6\.3\.1\.1\.4\.1\.0 = OID: \.1\.3\.6\.1\.2\.1\.236\.0\.1\b/);
      expect(text).toMatch(/\.1\.3\.6\.1\.2\.1\.236\.1\.4\.1\.2\.\d+ = STRING: "demo-\d"/);
    }
  });

  it("pausing a running guest sends vmPaused with vmName, vmUUID and the previous vmOperState running(4), over v2c and v3", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    await h.dispatcher.dispatch("domain.suspend", { domain: g.uuid }, { user: "t", via: "internal" });
    for (const sink of [v2, v3]) {
      const block = await waitForTrap(sink.out, "1.3.6.1.2.1.236.0.4", g.name);
      const vmIndex = new RegExp(`\\.1\\.3\\.6\\.1\\.2\\.1\\.236\\.1\\.4\\.1\\.2\\.(\\d+) = STRING: "${g.name}"`).exec(block)?.[1];
      expect(vmIndex, block).toBeDefined();
      expect(block).toContain(`.1.3.6.1.2.1.236.1.4.1.6.${vmIndex} = INTEGER: 4`);
      expect(block).toMatch(new RegExp(`\\.1\\.3\\.6\\.1\\.2\\.1\\.236\\.1\\.4\\.1\\.3\\.${vmIndex} = Hex-STRING: `));
    }
  });

  it("destroying a paused guest sends vmShutdown with the previous vmOperState paused(8), and libvirtGuestNotif with state shutoff", async () => {
    const g = h.store.listDomains().find((d) => d.state === "paused")!;
    const row = uuidToIndex(g.uuid).join(".");
    await h.dispatcher.dispatch("domain.destroy", { domain: g.uuid }, { user: "t", via: "internal" });
    for (const sink of [v2, v3]) {
      const block = await waitForTrap(sink.out, "1.3.6.1.2.1.236.0.3", g.name);
      expect(block).toMatch(/\.1\.3\.6\.1\.2\.1\.236\.1\.4\.1\.6\.\d+ = INTEGER: 8/);
      const libvirt = await waitFor(sink.out, new RegExp(`36957\\.1\\.1\\.1\\.3\\.${row.replace(/\./g, "\\.")} = INTEGER: 5`));
      expect(libvirt).toContain(`.1.3.6.1.4.1.36957.1.1.1.9.${row} = INTEGER: 2`);
    }
  });
});

/**
 * Waits for a notification `trapOid` whose varbinds name `guest`; returns that trap's line
 * (snmptrapd -Lo prints a header line, then all varbinds tab-separated on one line).
 */
async function waitForTrap(get: () => string, trapOid: string, guest: string, ms = 8000): Promise<string> {
  const t0 = Date.now();
  const isTrap = new RegExp(`= OID: \\.${trapOid.replace(/\./g, "\\.")}(\\s|$)`);
  for (;;) {
    const line = get().split("\n").find((l) => isTrap.test(l) && l.includes(`"${guest}"`));
    if (line) return line;
    if (Date.now() - t0 > ms) throw new Error(`no ${trapOid} for ${guest}; snmptrapd printed:\n${get()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
