import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../../agent/core/config.js";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { parseLines, snmp } from "./tools.js";

const VM_NUMBER = "1.3.6.1.2.1.236.1.2.0";

describe("SNMP with the embedded default config", () => {
  const defaults = validateConfig({}).snmp;
  let h: Harness;
  let exporter: SnmpExporter;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-default-"));
    h = await makeHarness({ demoDomains: 2 });
    // Everything as shipped except the port: 1161 may be taken by an agent already running here.
    const config = { ...defaults, listen: { ...defaults.listen, port: 0 } };
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir, log: h.services.log });
    await exporter.start();
  });
  afterAll(async () => {
    await exporter?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("the default config listens on 127.0.0.1:1161 with a loopback-only read-only community public and no v3 users", () => {
    expect(defaults.enabled).toBe(true);
    expect(defaults.mode).toBe("standalone");
    expect(defaults.listen).toEqual({ address: "127.0.0.1", port: 1161 });
    expect(defaults.communities).toEqual([{ name: "public", allow_remote: false }]);
    expect(defaults.users).toEqual([]);
  });

  it("snmpwalk -v2c -c public answers from the default config with the guest count", async () => {
    const r = await snmp("snmpwalk", ["-v2c", "-c", "public", `udp:127.0.0.1:${exporter.port}`, "1.3.6.1.2.1.236.1"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(parseLines(r.stdout).get(VM_NUMBER)).toBe("2");
  });

  it("another community gets no answer from the default config", async () => {
    const r = await snmp("snmpget", ["-v2c", "-c", "private", "-t", "1", `udp:127.0.0.1:${exporter.port}`, VM_NUMBER]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Timeout/);
  });

  it("a v2c SET with the default community is refused with noAccess", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    const oid = `1.3.6.1.4.1.36957.1.1.1.3.${uuidToIndex(g.uuid).join(".")}`;
    const r = await snmp("snmpset", ["-v2c", "-c", "public", `udp:127.0.0.1:${exporter.port}`, oid, "i", "3"]);
    expect(r.stderr).toMatch(/noAccess/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("running");
  });

  it("a dual-stack listener on :: still answers v2c from 127.0.0.1 (seen as ::ffff:127.0.0.1)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-dual-"));
    const config = { ...defaults, listen: { address: "::", port: 0 } };
    const dual = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: dir, log: h.services.log });
    await dual.start();
    try {
      const r = await snmp("snmpget", ["-v2c", "-c", "public", `udp:127.0.0.1:${dual.port}`, VM_NUMBER]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(parseLines(r.stdout).get(VM_NUMBER)).toBe("2");
    } finally {
      await dual.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
