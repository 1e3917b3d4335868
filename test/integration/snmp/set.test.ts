import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { settings, snmp, v3Args } from "./tools.js";

const GUEST_ENTRY = "1.3.6.1.4.1.36957.1.1.1";
const ADMIN = v3Args("admin", "admin-auth-pass", "admin-priv-pass");
const CALLER = { user: "test", via: "internal" } as const;

describe("SNMP SETs on the fake driver", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let stateDir: string;
  let uuid: string;

  const set = (col: number, value: number) =>
    snmp("snmpset", [...ADMIN, `udp:127.0.0.1:${exporter.port}`, `${GUEST_ENTRY}.${col}.${uuidToIndex(uuid).join(".")}`, "i", String(value)]);
  const ops = () => h.events.filter((e) => e.name === "command.audit").map((e) => e.payload as { op: string; via: string; result: string });

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-set-"));
    h = await makeHarness({ demoDomains: 1, policy: { roles: {}, users: { admin: ["admin"] } } });
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    uuid = h.store.listDomains()[0]!.uuid;
  });
  afterAll(async () => {
    await exporter?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    if (h.store.getDomain(uuid)?.state !== "running") {
      if (h.store.getDomain(uuid)?.state === "paused") await h.dispatcher.dispatch("domain.resume", { domain: uuid }, CALLER);
      else await h.dispatcher.dispatch("domain.start", { domain: uuid }, CALLER);
    }
    h.events.length = 0;
    exporter.source.invalidate();
  });

  it("State paused(3) on a running guest suspends it through domain.suspend", async () => {
    const r = await set(3, 3);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("paused");
    expect(ops()).toContainEqual(expect.objectContaining({ op: "domain.suspend", via: "snmp", result: "ok" }));
  });

  it("State running(1) on a paused guest resumes it through domain.resume", async () => {
    await h.dispatcher.dispatch("domain.suspend", { domain: uuid }, CALLER);
    exporter.source.invalidate();
    const r = await set(3, 1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("running");
    expect(ops()).toContainEqual(expect.objectContaining({ op: "domain.resume", via: "snmp", result: "ok" }));
  });

  it("State shutdown(4) on a running guest runs domain.shutdown", async () => {
    const r = await set(3, 4);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("shutoff");
    expect(ops()).toContainEqual(expect.objectContaining({ op: "domain.shutdown", via: "snmp", result: "ok" }));
  });

  it("RowStatus destroy(6) powers a running guest off through domain.destroy", async () => {
    const r = await set(9, 6);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("shutoff");
    expect(ops()).toContainEqual(expect.objectContaining({ op: "domain.destroy", via: "snmp", result: "ok" }));
  });

  it("RowStatus createAndGo(4) starts a shut-off guest through domain.start", async () => {
    await h.dispatcher.dispatch("domain.destroy", { domain: uuid }, CALLER);
    exporter.source.invalidate();
    const r = await set(9, 4);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("running");
    expect(ops()).toContainEqual(expect.objectContaining({ op: "domain.start", via: "snmp", result: "ok" }));
  });

  it("State running(1) on a running guest is accepted and runs no command", async () => {
    const r = await set(3, 1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(ops()).toEqual([]);
  });

  it("RowStatus createAndGo(4) on a running guest is refused with inconsistentValue", async () => {
    const r = await set(9, 4);
    expect(r.stderr).toMatch(/inconsistentValue/);
    expect(ops()).toEqual([]);
  });

  it("State paused(3) is refused with noAccess when the policy does not let the SNMP user suspend", async () => {
    const h2 = await makeHarness({ demoDomains: 1, policy: { roles: { starter: { ops: ["domain.start"] } }, users: { admin: ["starter"] } } });
    const dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-set2-"));
    const ex2 = new SnmpExporter({ services: h2.services, dispatcher: h2.dispatcher, config: settings(), stateDir: dir, log: h2.services.log });
    await ex2.start();
    try {
      const g = h2.store.listDomains()[0]!;
      const r = await snmp("snmpset", [...ADMIN, `udp:127.0.0.1:${ex2.port}`, `${GUEST_ENTRY}.3.${uuidToIndex(g.uuid).join(".")}`, "i", "3"]);
      expect(r.stderr).toMatch(/noAccess/);
      expect(h2.store.getDomain(g.uuid)?.state).toBe("running");
    } finally {
      await ex2.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
