import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeQemuHarness, type QemuHarness } from "../../helpers/qemu-harness.js";
import { parseLines, settings, snmp, v3Args } from "./tools.js";

const GUEST_ENTRY = "1.3.6.1.4.1.36957.1.1.1";
const ADMIN = v3Args("admin", "admin-auth-pass", "admin-priv-pass");
const XML = "<domain type='qemu'><name>snmp-set-real</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>";

/** A real diskless TCG guest driven only by snmpset (the agent's QEMU driver underneath). */
describe("SNMP SETs on a real QEMU guest", () => {
  let h: QemuHarness;
  let exporter: SnmpExporter;
  let stateDir: string;
  let uuid: string;
  let pid: () => string;

  const target = () => `udp:127.0.0.1:${exporter.port}`;
  const oid = (col: number) => `${GUEST_ENTRY}.${col}.${uuidToIndex(uuid).join(".")}`;
  const set = (col: number, value: number) => snmp("snmpset", [...ADMIN, target(), oid(col), "i", String(value)]);
  const snmpState = async () => {
    exporter.source.invalidate();
    const r = await snmp("snmpget", ["-v2c", "-c", "public", target(), oid(3)]);
    return Number(parseLines(r.stdout).get(oid(3)));
  };
  /** QEMU's own answer, not the store's: the guest really changed. */
  const qmpStatus = async () => /VM status: (\w+)/.exec(await h.driver.monitorCommand(uuid, "info status"))?.[1];

  beforeAll(async () => {
    h = await makeQemuHarness({ policy: { roles: {}, users: { admin: ["admin"] } } });
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-qemu-"));
    const def = (await h.dispatcher.dispatch("domain.define", { xml: XML }, { user: "test", via: "internal" })) as { uuid: string };
    uuid = def.uuid;
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    pid = () => String(h.store.getDomain(uuid)?.pid ?? "");
  }, 60_000);
  afterAll(async () => {
    await exporter?.stop();
    await h?.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  }, 60_000);

  it("RowStatus createAndGo(4) starts the defined guest's QEMU process", async () => {
    const r = await set(9, 4);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("running");
    expect(await qmpStatus()).toBe("running");
    expect(await snmpState()).toBe(1);
  }, 60_000);

  it("State paused(3) stops the real guest's vCPUs", async () => {
    const r = await set(3, 3);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await qmpStatus()).toBe("paused");
    expect(await snmpState()).toBe(3);
  }, 30_000);

  it("State running(1) resumes the paused real guest", async () => {
    const r = await set(3, 1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await qmpStatus()).toBe("running");
    expect(await snmpState()).toBe(1);
  }, 30_000);

  it("State shutdown(4) sends the real guest an ACPI power-down through domain.shutdown", async () => {
    const r = await set(3, 4);
    expect(r.exitCode, r.stderr).toBe(0);
    const audit = h.events.filter((e) => e.name === "command.audit").map((e) => e.payload as { op: string; via: string; result: string });
    expect(audit).toContainEqual(expect.objectContaining({ op: "domain.shutdown", via: "snmp", result: "ok" }));
  }, 30_000);

  it("RowStatus destroy(6) kills the real QEMU process", async () => {
    const before = Number(pid());
    expect(before).toBeGreaterThan(0);
    const r = await set(9, 6);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(h.store.getDomain(uuid)?.state).toBe("shutoff");
    expect(() => process.kill(before, 0)).toThrow();
    expect(await snmpState()).toBe(5);
  }, 30_000);

  it("State paused(3) on the shut-off real guest is refused with inconsistentValue", async () => {
    const r = await set(3, 3);
    expect(r.stderr).toMatch(/inconsistentValue/);
    expect(h.store.getDomain(uuid)?.state).toBe("shutoff");
  }, 30_000);
});
