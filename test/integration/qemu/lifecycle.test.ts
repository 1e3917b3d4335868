import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { statusPath } from "../../../agent/drivers/qemu/status.js";
import { AgentError } from "../../../agent/model/errors.js";
import { guestXml } from "./driver-fixture.js";
import { useOpenDriver } from "./open-driver.js";
import { isAlive } from "./helpers.js";

describe("QemuDriver lifecycle with real QEMU (TCG, diskless SeaBIOS guests)", () => {
  const t = useOpenDriver("vb-life-");

  async function defineAndStart(name: string, paused = false) {
    const { view } = await t.fx.driver.defineDomain(guestXml(name));
    const started = await t.fx.driver.startDomain(view.uuid, { paused });
    t.pids.add(started.pid);
    return started;
  }

  it("runs define, start, suspend, resume, shutdown-with-timeout, start, destroy, undefine with events in order", async () => {
    const { view } = await t.fx.driver.defineDomain(guestXml("life1"));
    expect(view.def.os.machine).toMatch(/^pc-i440fx-/);
    const uuid = view.uuid;
    const xmlPath = join(t.dirs.stateDir, "qemu", `${uuid}.xml`);
    expect((await import("node:fs")).statSync(xmlPath).mode & 0o777).toBe(0o600);

    const run = await t.fx.driver.startDomain(uuid);
    t.pids.add(run.pid);
    expect(run).toMatchObject({ state: "running", reason: "booted", id: expect.any(Number) });
    expect(JSON.parse(readFileSync(statusPath(t.dirs.runDir, uuid), "utf8"))).toMatchObject({ pid: run.pid, state: "running", vcpuThreads: [expect.any(Number)] });

    expect(await t.fx.driver.suspendDomain(uuid)).toMatchObject({ state: "paused", reason: "user" });
    expect(await t.fx.driver.resumeDomain(uuid)).toMatchObject({ state: "running", reason: "unpaused" });
    // SeaBIOS without an OS ignores the ACPI request: the timeout turns it into a destroy.
    expect(await t.fx.driver.shutdownDomain(uuid, { timeoutMs: 300 })).toMatchObject({ state: "shutoff", reason: "destroyed" });
    expect(isAlive(run.pid!)).toBe(false);
    expect(existsSync(statusPath(t.dirs.runDir, uuid))).toBe(false);

    const run2 = await t.fx.driver.startDomain(uuid);
    t.pids.add(run2.pid);
    expect(run2.id).toBeGreaterThan(run.id!);
    expect(await t.fx.driver.destroyDomain(uuid)).toMatchObject({ state: "shutoff", reason: "destroyed" });
    await t.fx.driver.undefineDomain(uuid);
    expect(t.fx.store.getDomain(uuid)).toBeUndefined();
    expect(existsSync(xmlPath)).toBe(false);

    expect(t.fx.eventsOf(uuid)).toEqual([
      "defined/added",
      "started/booted",
      "suspended/paused",
      "resumed/unpaused",
      "stopped/destroyed",
      "started/booted",
      "stopped/destroyed",
      "undefined/removed",
    ]);
  });

  it("redefines an existing domain as an update that keeps its uuid and assigned addresses", async () => {
    const first = await t.fx.driver.defineDomain(guestXml("redef1"));
    expect(first.updated).toBe(false);
    const again = await t.fx.driver.defineDomain(guestXml("redef1", { uuid: first.view.uuid, memoryKiB: 131072 }));
    expect(again.updated).toBe(true);
    expect(again.view).toMatchObject({ uuid: first.view.uuid, maxMemoryKiB: 131072 });
    expect(t.fx.eventsOf(first.view.uuid)).toEqual(["defined/added", "defined/updated"]);
    await t.fx.driver.undefineDomain(first.view.uuid);
  });

  it("reports kill -9 of QEMU as shutoff/crashed within one second", async () => {
    const v = await defineAndStart("crash1");
    const t0 = Date.now();
    const crashed = t.fx.bus.waitFor("domain.lifecycle", (p) => p.uuid === v.uuid && p.event === "stopped", 1000);
    process.kill(v.pid!, "SIGKILL");
    const ev = await crashed;
    expect(ev.payload).toMatchObject({ detail: "crashed", state: "shutoff", reason: "crashed" });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(t.fx.store.getDomain(v.uuid)).toMatchObject({ state: "shutoff", reason: "crashed" });
    expect(t.fx.store.getDomain(v.uuid)?.pid).toBeUndefined();
    expect(existsSync(statusPath(t.dirs.runDir, v.uuid))).toBe(false);
  });

  it("starts paused on request and emits started then suspended", async () => {
    const v = await defineAndStart("paused1", true);
    expect(v).toMatchObject({ state: "paused", reason: "user" });
    expect(t.fx.eventsOf(v.uuid)).toEqual(["defined/added", "started/booted", "suspended/paused"]);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("refuses send-key to a paused guest because QEMU would drop the keys", async () => {
    const v = await defineAndStart("keys1", true);
    const err = await t.fx.driver.sendKey(v.uuid, [{ type: "qcode", data: "a" }], 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "operation_invalid" });
    expect((err as AgentError).message).toContain("keys sent to a paused guest are lost");
    await t.fx.driver.resumeDomain(v.uuid);
    await t.fx.driver.sendKey(v.uuid, [{ type: "qcode", data: "ctrl" }, { type: "qcode", data: "a" }], 10);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("lists the running QEMU's QKeyCode names from its QMP schema", async () => {
    const v = await defineAndStart("qcodes1");
    const codes = await t.fx.driver.supportedQcodes(v.uuid);
    expect(codes.has("ctrl")).toBe(true);
    expect(codes.has("kp_enter")).toBe(true);
    expect(codes.has("no_such_key")).toBe(false);
    expect(codes.size).toBeGreaterThan(100);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("collects cpu, vcpu and memory stats from /proc and QMP before the deadline", async () => {
    const v = await defineAndStart("stats1");
    await new Promise((r) => setTimeout(r, 300));
    const s = await t.fx.driver.getDomainStats(v.uuid, Date.now() + 2000);
    expect(s.cpuTimeNs).toBeGreaterThan(0);
    expect(s.vcpus).toHaveLength(1);
    expect(s.vcpus[0]?.timeNs).toBeGreaterThan(0);
    expect(s.memory.rss).toBeGreaterThan(1000);
    expect(s.qmpLatencyMs).toBeGreaterThanOrEqual(0);
    await expect(t.fx.driver.getDomainStats(v.uuid, Date.now() - 1)).rejects.toMatchObject({ code: "operation_timeout" });
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("shows the live id in running XML and the persistent definition when inactive", async () => {
    const v = await defineAndStart("xml1");
    const live = await t.fx.driver.getDomainXml(v.uuid);
    expect(live).toContain("<name>xml1</name>");
    expect(live).toMatch(new RegExp(`^<domain type='qemu' id='${v.id}'>`));
    expect(t.fx.driver.getDomainDef(v.uuid).uuid).toBe(v.uuid);
    await t.fx.driver.destroyDomain(v.uuid);
    const inactive = await t.fx.driver.getDomainXml(v.uuid, { inactive: true });
    expect(inactive).toContain(`<uuid>${v.uuid}</uuid>`);
    expect(inactive).not.toContain(" id=");
  });

  it("keeps the VNC password out of argv and live XML, and shows the port QEMU picked", async () => {
    const vnc = "<graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='s3cret-pw-42'><listen type='address' address='127.0.0.1'/></graphics>";
    const { view } = await t.fx.driver.defineDomain(guestXml("vnc1", { devices: vnc }));
    expect(readFileSync(join(t.dirs.stateDir, "qemu", `${view.uuid}.xml`), "utf8")).toContain("s3cret-pw-42");
    const v = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(v.pid);
    expect(readFileSync(`/proc/${v.pid}/cmdline`, "utf8")).not.toContain("s3cret-pw-42");
    const live = await t.fx.driver.getDomainXml(v.uuid);
    expect(live).not.toContain("s3cret-pw-42");
    const port = t.fx.driver.getDomainDef(v.uuid).devices.graphics[0]?.port ?? -1;
    expect(port).toBeGreaterThanOrEqual(5900);
    expect(live).toContain(`port='${port}'`);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("turns on balloon stats polling at start and reports the balloon size", async () => {
    const balloon = "<memballoon model='virtio'><stats period='3'/></memballoon>";
    const { view } = await t.fx.driver.defineDomain(guestXml("balloon1", { devices: balloon }));
    const v = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(v.pid);
    expect((await t.fx.driver.monitorCommand(v.uuid, "qom-get /machine/peripheral/balloon0 guest-stats-polling-interval")).trim()).toBe("3");
    const s = await t.fx.driver.getDomainStats(v.uuid, Date.now() + 2000);
    expect(s.memory.actual_balloon).toBe(65536);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("times out stats of a frozen QEMU at the deadline and destroys it by escalating to SIGKILL", async () => {
    const v = await defineAndStart("frozen1");
    process.kill(v.pid!, "SIGSTOP");
    const t0 = Date.now();
    await expect(t.fx.driver.getDomainStats(v.uuid, Date.now() + 300)).rejects.toMatchObject({ code: "operation_timeout" });
    expect(Date.now() - t0).toBeLessThan(600);
    // A stopped process keeps SIGTERM pending; only the SIGKILL after the grace period ends it.
    const t1 = Date.now();
    expect(await t.fx.driver.destroyDomain(v.uuid)).toMatchObject({ state: "shutoff", reason: "destroyed" });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(2900);
    expect(isAlive(v.pid!)).toBe(false);
  });

  it("keeps a guest running after undefine as transient and forgets it when it stops", async () => {
    const v = await defineAndStart("transient1");
    await t.fx.driver.undefineDomain(v.uuid);
    expect(t.fx.store.getDomain(v.uuid)).toMatchObject({ state: "running", persistent: false });
    await t.fx.driver.destroyDomain(v.uuid);
    expect(t.fx.store.getDomain(v.uuid)).toBeUndefined();
    expect(t.fx.eventsOf(v.uuid).slice(-2)).toEqual(["undefined/removed", "stopped/destroyed"]);
  });
});
