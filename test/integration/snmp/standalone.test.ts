import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { parseLines, settings, snmp, v3Args } from "./tools.js";

const GUEST_ENTRY = "1.3.6.1.4.1.36957.1.1.1";
const VM_ENTRY = "1.3.6.1.2.1.236.1.4.1";
const ADMIN = v3Args("admin", "admin-auth-pass", "admin-priv-pass");
const READER = v3Args("reader", "reader-auth-pass", "reader-priv-pass");


const idx = (uuid: string): string => uuidToIndex(uuid).join(".");

describe("standalone SNMP agent", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let stateDir: string;
  let target: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-"));
    h = await makeHarness({ demoDomains: 3, policy: { roles: {}, users: { admin: ["admin"], reader: ["viewer"] } } });
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    target = `udp:127.0.0.1:${exporter.port}`;
  });
  afterAll(async () => {
    await exporter?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });
  afterEach(() => exporter.source.invalidate());

  it("snmpbulkwalk v2c lists every guest in libvirtGuestTable with the values domain.info reports", async () => {
    const r = await snmp("snmpbulkwalk", ["-v2c", "-c", "public", target, GUEST_ENTRY]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = parseLines(r.stdout);
    const guests = h.store.listDomains();
    expect(guests.length).toBe(3);
    for (const g of guests) {
      const info = (await h.dispatcher.dispatch("domain.info", { domain: g.uuid }, { user: "test", via: "internal" })) as Record<string, number | string>;
      const i = idx(g.uuid);
      expect(got.get(`${GUEST_ENTRY}.2.${i}`)).toBe(info["name"]);
      expect(Number(got.get(`${GUEST_ENTRY}.3.${i}`))).toBe(info["state_code"]);
      expect(Number(got.get(`${GUEST_ENTRY}.4.${i}`))).toBe(info["vcpus"]);
      expect(Number(got.get(`${GUEST_ENTRY}.6.${i}`))).toBe(Math.floor(Number(info["max_memory_kib"]) / 1024));
      expect(Number(got.get(`${GUEST_ENTRY}.9.${i}`))).toBe(info["state"] === "running" ? 1 : 2);
    }
    expect([...got.keys()].filter((k) => k.startsWith(`${GUEST_ENTRY}.2.`)).length).toBe(3);
  });

  it("snmpwalk v3 authPriv SHA-256/AES walks vmTable with vmName and vmUUID per guest", async () => {
    const r = await snmp("snmpwalk", [...READER, target, VM_ENTRY]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = parseLines(r.stdout);
    const names = [...got.entries()].filter(([k]) => k.startsWith(`${VM_ENTRY}.2.`)).map(([, v]) => v);
    expect(names.sort()).toEqual(h.store.listDomains().map((d) => d.name).sort());
  });

  it("snmpget v2c reads vmNumber and libvirtGuestName of one guest", async () => {
    const g = h.store.listDomains()[0]!;
    const r = await snmp("snmpget", ["-v2c", "-c", "public", target, "1.3.6.1.2.1.236.1.2.0", `${GUEST_ENTRY}.2.${idx(g.uuid)}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = parseLines(r.stdout);
    expect(got.get("1.3.6.1.2.1.236.1.2.0")).toBe("3");
    expect(got.get(`${GUEST_ENTRY}.2.${idx(g.uuid)}`)).toBe(g.name);
  });

  it("a v2c SET is refused with noAccess and changes nothing", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const r = await snmp("snmpset", ["-v2c", "-c", "public", target, `${GUEST_ENTRY}.9.${idx(g.uuid)}`, "i", "4"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/noAccess/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("shutoff");
  });

  it("a SET from a read-only v3 user is refused with noAccess", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const r = await snmp("snmpset", [...READER, target, `${GUEST_ENTRY}.9.${idx(g.uuid)}`, "i", "4"]);
    expect(r.stderr).toMatch(/noAccess/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("shutoff");
  });

  it("a wrong v3 auth key gets no answer", async () => {
    const r = await snmp("snmpget", [...v3Args("admin", "not-the-key", "admin-priv-pass"), target, "1.3.6.1.2.1.236.1.2.0"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toMatch(/^\.?1\.3\.6/m);
  });

  it("RowStatus createAndGo from the write user starts a defined guest through dispatch", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.9.${idx(g.uuid)}`, "i", "4"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(g.uuid)?.state).toBe("running");
    expect(h.events.some((e) => e.name === "command.audit" && (e.payload as { via: string; op: string }).via === "snmp")).toBe(true);
  });

  it("setting State shutdown(4) on a running guest shuts it down", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.3.${idx(g.uuid)}`, "i", "4"]);
    expect(r.exitCode, r.stderr).toBe(0);
    await h.bus.waitFor("domain.lifecycle", (p) => p.uuid === g.uuid && p.state === "shutoff", 1000).catch(() => undefined);
    expect(["shutdown", "shutoff"]).toContain(h.store.getDomain(g.uuid)?.state);
  });

  it("a forbidden transition (shutoff to paused) is refused with inconsistentValue", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.3.${idx(g.uuid)}`, "i", "3"]);
    expect(r.stderr).toMatch(/inconsistentValue/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("shutoff");
  });

  it("a SET on an unknown UUID is refused with inconsistentName", async () => {
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.9.${idx("00000000-0000-0000-0000-0000000000ff")}`, "i", "6"]);
    expect(r.stderr).toMatch(/inconsistentName/);
  });

  it("persists the engine ID and a boot counter that grows by one per start", async () => {
    const first = JSON.parse(await readFile(join(stateDir, "snmp-engine.json"), "utf8")) as { engine_id: string; boots: number };
    const again = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await again.start();
    await again.stop();
    const second = JSON.parse(await readFile(join(stateDir, "snmp-engine.json"), "utf8")) as { engine_id: string; boots: number };
    expect(second.engine_id).toBe(first.engine_id);
    expect(second.boots).toBe(first.boots + 1);
  });
});
