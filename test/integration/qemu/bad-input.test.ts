import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../../agent/model/errors.js";
import { guestXml, makeDriver, type DriverFixture } from "./driver-fixture.js";
import { makeTempDirs, PidTracker, requireQemu, type TempDirs } from "./helpers.js";

describe("QemuDriver rejects bad input cleanly (real QEMU)", () => {
  let dirs: TempDirs;
  let fx: DriverFixture;
  const pids = new PidTracker();

  beforeAll(async () => {
    requireQemu();
    dirs = makeTempDirs("vb-bad-");
    fx = makeDriver(dirs);
    await fx.driver.open();
  });
  afterEach(() => pids.killAll());
  afterAll(async () => {
    await fx?.driver.close();
    pids.killAll();
    dirs?.cleanup();
  });

  const persisted = () => readdirSync(join(dirs.stateDir, "qemu")).filter((n) => n.endsWith(".xml"));
  const runtimeFiles = () => readdirSync(join(dirs.runDir, "qemu"));

  async function codeOf(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentError);
    return (err as AgentError).code;
  }

  /** Nothing half-created: no new definition file, no status file or socket, no new event. */
  async function expectRejected(p: Promise<unknown>, code: string): Promise<void> {
    const before = { xml: persisted(), run: runtimeFiles(), events: fx.events.length };
    expect(await codeOf(p)).toBe(code);
    expect(persisted()).toEqual(before.xml);
    expect(runtimeFiles()).toEqual(before.run);
    expect(fx.events.length).toBe(before.events);
  }

  it("rejects malformed XML with xml_error", async () => {
    await expectRejected(fx.driver.defineDomain("<domain type='qemu'><name>x</name"), "xml_error");
  });

  it("rejects a second domain with the same name and another uuid with domain.exists", async () => {
    await fx.driver.defineDomain(guestXml("dup1", { uuid: "11111111-2222-3333-4444-555555555555" }));
    await expectRejected(fx.driver.defineDomain(guestXml("dup1", { uuid: "11111111-2222-3333-4444-666666666666" })), "domain.exists");
  });

  it("rejects the same uuid under another name with domain.exists", async () => {
    await fx.driver.defineDomain(guestXml("dup2", { uuid: "21111111-2222-3333-4444-555555555555" }));
    await expectRejected(fx.driver.defineDomain(guestXml("dup2-renamed", { uuid: "21111111-2222-3333-4444-555555555555" })), "domain.exists");
  });

  it("rejects a missing emulator with invalid_arg naming it", async () => {
    const p = fx.driver.defineDomain(guestXml("noemu", { emulator: "/usr/bin/qemu-does-not-exist" }));
    await expect(p).rejects.toThrow(/emulator \/usr\/bin\/qemu-does-not-exist not found/);
    await expectRejected(fx.driver.defineDomain(guestXml("noemu", { emulator: "/usr/bin/qemu-does-not-exist" })), "invalid_arg");
  });

  it("rejects a missing disk file with invalid_arg", async () => {
    const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dirs.root}/absent.img'/><target dev='vda' bus='virtio'/></disk>`;
    await expectRejected(fx.driver.defineDomain(guestXml("nodisk", { devices: disk })), "invalid_arg");
  });

  it("rejects zero memory", async () => {
    const code = await codeOf(fx.driver.defineDomain(guestXml("mem0", { memoryKiB: 0 })));
    expect(["invalid_arg", "xml_error"]).toContain(code);
    expect(fx.store.findDomain("mem0")).toBeUndefined();
  });

  it("rejects zero vcpus", async () => {
    const code = await codeOf(fx.driver.defineDomain(guestXml("vcpu0", { vcpus: 0 })));
    expect(["invalid_arg", "xml_error"]).toContain(code);
    expect(fx.store.findDomain("vcpu0")).toBeUndefined();
  });

  it("refuses to start a running guest with operation_invalid and keeps the one process", async () => {
    const { view } = await fx.driver.defineDomain(guestXml("run2x"));
    const v = await fx.driver.startDomain(view.uuid);
    pids.add(v.pid);
    await expectRejected(fx.driver.startDomain(view.uuid), "operation_invalid");
    expect(fx.store.getDomain(view.uuid)?.pid).toBe(v.pid);
    await fx.driver.destroyDomain(view.uuid);
  });

  it("refuses to destroy, suspend or send keys to a shut-off guest with operation_invalid", async () => {
    const { view } = await fx.driver.defineDomain(guestXml("off1"));
    await expectRejected(fx.driver.destroyDomain(view.uuid), "operation_invalid");
    await expectRejected(fx.driver.suspendDomain(view.uuid), "operation_invalid");
    await expectRejected(fx.driver.sendKey(view.uuid, [{ type: "qcode", data: "a" }], 10), "operation_invalid");
    await expect(fx.driver.destroyDomain(view.uuid)).rejects.toThrow(/is not running/);
  });

  it("answers an unknown uuid with domain.not_found", async () => {
    await expectRejected(fx.driver.startDomain("99999999-9999-9999-9999-999999999999"), "domain.not_found");
  });

  it("fails a start QEMU refuses with operation_failed carrying QEMU's message and leaves shutoff/failed", async () => {
    // 4 TiB of guest RAM: accepted by the parser, refused by QEMU at start.
    const { view } = await fx.driver.defineDomain(guestXml("toobig", { memoryKiB: 4 * 1024 * 1024 * 1024 * 1024 }));
    const before = runtimeFiles();
    const err = await fx.driver.startDomain(view.uuid).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_failed");
    expect((err as AgentError).message).toContain("QEMU said");
    expect(runtimeFiles()).toEqual(before);
    expect(fx.store.getDomain(view.uuid)).toMatchObject({ state: "shutoff", reason: "failed" });
  });
});
