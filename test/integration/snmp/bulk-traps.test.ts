import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { freePort, startTrapd, type Trapd } from "./snmpd.js";
import { parseLines, settings, snmp } from "./tools.js";

const VM_NAME = "1.3.6.1.2.1.236.1.4.1.2";

describe("notification storm control", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let dir: string;
  let trapd: Trapd;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-bulk-"));
    const port = await freePort();
    trapd = await startTrapd(dir, "bulk", port, "authCommunity log trapcomm\n");
    h = await makeHarness({ demoDomains: 13 });
    const base = settings();
    const sinks = [{ host: "127.0.0.1", port, version: "2c" as const, community: "trapcomm", inform: false }];
    exporter = new SnmpExporter({
      services: h.services,
      dispatcher: h.dispatcher,
      config: { ...base, notifications: { ...base.notifications, bulk_threshold: 10, window_ms: 200, sinks } },
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

  it("twelve guests started inside one window produce one vmBulkRunning whose vmAffectedVMs has exactly their vmIndex bits", async () => {
    const walk = await snmp("snmpwalk", ["-v2c", "-c", "public", `udp:127.0.0.1:${exporter.port}`, VM_NAME]);
    const indexOf = new Map([...parseLines(walk.stdout)].map(([oid, name]) => [name, Number(oid.split(".").at(-1))]));
    const off = h.store.listDomains().filter((d) => d.state === "shutoff");
    expect(off.length).toBe(12);
    await Promise.all(off.map((d) => h.dispatcher.dispatch("domain.start", { domain: d.uuid }, { user: "t", via: "internal" })));
    const bits = Buffer.alloc(2);
    for (const d of off) {
      const i = indexOf.get(d.name)! - 1;
      bits[i >> 3] = (bits[i >> 3] as number) | (0x80 >> (i & 7));
    }
    const expected = [...bits].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
    const t0 = Date.now();
    while (!/236\.0\.11(\s|$)/m.test(trapd.out()) && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 50));
    const line = trapd.out().split("\n").find((l) => /= OID: \.1\.3\.6\.1\.2\.1\.236\.0\.11(\s|$)/.test(l));
    expect(line, trapd.out()).toBeDefined();
    expect(line).toMatch(new RegExp(`\\.1\\.3\\.6\\.1\\.2\\.1\\.236\\.1\\.11\\.0 = Hex-STRING: ${expected}\\s*$`));
    await new Promise((r) => setTimeout(r, 300)); // nothing per guest follows
    expect(trapd.out()).not.toMatch(/= OID: \.1\.3\.6\.1\.2\.1\.236\.0\.1(\s|$)/m);
  });
});
