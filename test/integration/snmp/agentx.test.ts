import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { freePort, makeSnmpd, startTrapd, waitForAnswer, type Snmpd, type Trapd } from "./snmpd.js";
import { parseLines, settings, snmp, snmpSymbolic, v3Args } from "./tools.js";

const GUEST_ENTRY = "1.3.6.1.4.1.36957.1.1.1";
const VM_NUMBER = "1.3.6.1.2.1.236.1.2.0";
const ADMIN = v3Args("admin", "admin-auth-pass", "admin-priv-pass");
const READER = v3Args("reader", "reader-auth-pass", "reader-priv-pass");
const CALLER = { user: "test", via: "internal" } as const;

describe("AgentX subagent behind a real snmpd", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let snmpd: Snmpd;
  let dir: string;
  let target: string;
  let trapd: Trapd;
  const idx = (uuid: string) => uuidToIndex(uuid).join(".");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "virtbus-agentx-"));
    await mkdir(join(dir, "state"));
    const trapPort = await freePort();
    trapd = await startTrapd(dir, "trapd", trapPort, "authCommunity log trapcomm\n");
    snmpd = await makeSnmpd(dir, { trapSinkPort: trapPort });
    await snmpd.start();
    target = `udp:127.0.0.1:${snmpd.udpPort}`;
    // snmpd does USM and VACM; the SET reaches dispatch() as the configured AgentX caller.
    h = await makeHarness({ demoDomains: 3, policy: { roles: {}, users: { "snmpd-admin": ["admin"] } } });
    const config = settings({ mode: "agentx", agentx: { host: "127.0.0.1", port: snmpd.agentxPort, reconnect_ms: 200, caller: "snmpd-admin" } });
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: join(dir, "state"), log: h.services.log });
    await exporter.start();
    await waitForAnswer(snmpd.udpPort, VM_NUMBER);
  }, 30_000);
  afterAll(async () => {
    await exporter?.stop();
    await snmpd?.stop();
    trapd?.proc.kill();
    await trapd?.proc;
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it("snmpbulkwalk v3 authPriv through snmpd lists libvirtGuestTable with the values domain.info reports", async () => {
    const r = await snmp("snmpbulkwalk", [...READER, target, GUEST_ENTRY]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = parseLines(r.stdout);
    for (const g of h.store.listDomains()) {
      const info = (await h.dispatcher.dispatch("domain.info", { domain: g.uuid }, CALLER)) as Record<string, number | string>;
      expect(got.get(`${GUEST_ENTRY}.2.${idx(g.uuid)}`)).toBe(info["name"]);
      expect(Number(got.get(`${GUEST_ENTRY}.3.${idx(g.uuid)}`))).toBe(info["state_code"]);
      expect(Number(got.get(`${GUEST_ENTRY}.5.${idx(g.uuid)}`))).toBe(Math.floor(Number(info["used_memory_kib"]) / 1024));
    }
    expect([...got.keys()].filter((k) => k.startsWith(`${GUEST_ENTRY}.2.`)).length).toBe(3);
  });

  it("snmptable VM-MIB::vmTable through snmpd over v2c shows every guest with its UUID, binary octets included", async () => {
    const r = await snmpSymbolic("snmptable", ["-v2c", "-c", "public", "-Ci", "-CH", "-Cf", "|", target, "VM-MIB::vmTable"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = r.stdout.split("\n").filter((l) => l.includes("|")).map((l) => l.split("|"));
    const byName = new Map(rows.map((c) => [c[1], c[2]]));
    for (const g of h.store.listDomains()) {
      expect(byName.get(g.name)).toBe(g.uuid.split("-").map((p) => p.replace(/^0+(?=.)/, "")).join("-"));
    }
    expect(rows.length).toBe(3);
  });

  it("snmpset State paused(3) through snmpd pauses a running guest via dispatch as the AgentX caller", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.3.${idx(g.uuid)}`, "i", "3"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(g.uuid)?.state).toBe("paused");
    const audit = h.events.filter((e) => e.name === "command.audit").map((e) => e.payload as { op: string; caller: string; via: string });
    expect(audit).toContainEqual(expect.objectContaining({ op: "domain.suspend", caller: "snmpd-admin", via: "snmp" }));
    await h.dispatcher.dispatch("domain.resume", { domain: g.uuid }, CALLER);
  });

  it("a forbidden transition through snmpd is refused with inconsistentValue", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const r = await snmp("snmpset", [...ADMIN, target, `${GUEST_ENTRY}.3.${idx(g.uuid)}`, "i", "3"]);
    expect(r.stderr).toMatch(/inconsistentValue/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("shutoff");
  });

  it("snmpd refuses a SET from its read-only user with noAccess before the subagent sees it", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    const before = h.events.filter((e) => e.name === "command.audit").length;
    const r = await snmp("snmpset", [...READER, target, `${GUEST_ENTRY}.3.${idx(g.uuid)}`, "i", "3"]);
    expect(r.stderr).toMatch(/noAccess|authorizationError/);
    expect(h.store.getDomain(g.uuid)?.state).toBe("running");
    expect(h.events.filter((e) => e.name === "command.audit").length).toBe(before);
  });

  it("a guest state change reaches snmpd's trap sink as libvirtGuestNotif and vmRunning through AgentX", async () => {
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    await h.dispatcher.dispatch("domain.start", { domain: g.uuid }, CALLER);
    const row = idx(g.uuid);
    const t0 = Date.now();
    const seen = () => trapd.out().includes(`.1.3.6.1.4.1.36957.1.1.1.3.${row} = INTEGER: 1`) && /= OID: \.1\.3\.6\.1\.2\.1\.236\.0\.1(\s|$)/m.test(trapd.out());
    while (!seen() && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 50));
    expect(seen(), trapd.out()).toBe(true);
    expect(trapd.out()).toContain(`.1.3.6.1.4.1.36957.1.1.1.9.${row} = INTEGER: 1`);
  });

  it("the subagent re-registers after snmpd restarts and the walk answers again", async () => {
    await snmpd.stop();
    await snmpd.start();
    await waitForAnswer(snmpd.udpPort, VM_NUMBER);
    const r = await snmp("snmpwalk", [...READER, target, "1.3.6.1.2.1.236.1.4.1.2"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect([...parseLines(r.stdout).values()].sort()).toEqual(h.store.listDomains().map((d) => d.name).sort());
  }, 30_000);

  it("a subagent started before snmpd keeps retrying and registers once snmpd is up", async () => {
    const late = await makeSnmpd(join(dir, "late"));
    const config = settings({ mode: "agentx", agentx: { host: "127.0.0.1", port: late.agentxPort, reconnect_ms: 200, caller: "snmpd-admin" } });
    const early = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: join(dir, "state"), log: h.services.log });
    await early.start();
    try {
      await new Promise((r) => setTimeout(r, 500)); // a few refused connections
      await late.start();
      await waitForAnswer(late.udpPort, VM_NUMBER);
    } finally {
      await early.stop();
      await late.stop();
    }
  }, 30_000);
});

describe("AgentX over snmpd's unix socket", () => {
  it("the subagent registers on agentx.socket and snmpd answers a walk of its tables", async () => {
    const dir = await mkdtemp(join(tmpdir(), "virtbus-agentx-unix-"));
    await mkdir(join(dir, "state"));
    const snmpd = await makeSnmpd(dir, { agentxUnix: true });
    const h = await makeHarness({ demoDomains: 2 });
    const config = settings({ mode: "agentx", agentx: { host: "192.0.2.1", port: 1, socket: snmpd.agentxPath!, reconnect_ms: 200, caller: "agentx" } });
    const exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: join(dir, "state"), log: h.services.log });
    try {
      await snmpd.start();
      await exporter.start();
      await waitForAnswer(snmpd.udpPort, VM_NUMBER);
      const r = await snmp("snmpbulkwalk", ["-v2c", "-c", "public", "-On", `udp:127.0.0.1:${snmpd.udpPort}`, `${GUEST_ENTRY}.2`]);
      expect([...parseLines(r.stdout).values()].sort()).toEqual(["demo-1", "demo-2"]);
    } finally {
      await exporter.stop();
      await snmpd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
