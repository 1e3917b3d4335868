import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentError } from "../../../agent/model/errors.js";
import { guestXml } from "./driver-fixture.js";
import { useOpenDriver } from "./open-driver.js";

describe("QemuDriver rejects bad input cleanly (real QEMU)", () => {
  const t = useOpenDriver("vb-bad-");

  const persisted = () => readdirSync(join(t.dirs.stateDir, "qemu")).filter((n) => n.endsWith(".xml"));
  const runtimeFiles = () => readdirSync(join(t.dirs.runDir, "qemu"));

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
    const before = { xml: persisted(), run: runtimeFiles(), events: t.fx.events.length };
    expect(await codeOf(p)).toBe(code);
    expect(persisted()).toEqual(before.xml);
    expect(runtimeFiles()).toEqual(before.run);
    expect(t.fx.events.length).toBe(before.events);
  }

  it("rejects malformed XML with xml_error", async () => {
    await expectRejected(t.fx.driver.defineDomain("<domain type='qemu'><name>x</name"), "xml_error");
  });

  it("rejects a second domain with the same name and another uuid with domain.exists", async () => {
    await t.fx.driver.defineDomain(guestXml("dup1", { uuid: "11111111-2222-3333-4444-555555555555" }));
    await expectRejected(t.fx.driver.defineDomain(guestXml("dup1", { uuid: "11111111-2222-3333-4444-666666666666" })), "domain.exists");
  });

  it("rejects the same uuid under another name with domain.exists", async () => {
    await t.fx.driver.defineDomain(guestXml("dup2", { uuid: "21111111-2222-3333-4444-555555555555" }));
    await expectRejected(t.fx.driver.defineDomain(guestXml("dup2-renamed", { uuid: "21111111-2222-3333-4444-555555555555" })), "domain.exists");
  });

  it("rejects a missing emulator with invalid_arg naming it", async () => {
    const p = t.fx.driver.defineDomain(guestXml("noemu", { emulator: "/usr/bin/qemu-does-not-exist" }));
    await expect(p).rejects.toThrow(/emulator \/usr\/bin\/qemu-does-not-exist not found/);
    await expectRejected(t.fx.driver.defineDomain(guestXml("noemu", { emulator: "/usr/bin/qemu-does-not-exist" })), "invalid_arg");
  });

  it("rejects a missing disk file with invalid_arg", async () => {
    const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${t.dirs.root}/absent.img'/><target dev='vda' bus='virtio'/></disk>`;
    await expectRejected(t.fx.driver.defineDomain(guestXml("nodisk", { devices: disk })), "invalid_arg");
  });

  it("rejects zero memory", async () => {
    const code = await codeOf(t.fx.driver.defineDomain(guestXml("mem0", { memoryKiB: 0 })));
    expect(["invalid_arg", "xml_error"]).toContain(code);
    expect(t.fx.store.findDomain("mem0")).toBeUndefined();
  });

  it("rejects zero vcpus", async () => {
    const code = await codeOf(t.fx.driver.defineDomain(guestXml("vcpu0", { vcpus: 0 })));
    expect(["invalid_arg", "xml_error"]).toContain(code);
    expect(t.fx.store.findDomain("vcpu0")).toBeUndefined();
  });

  it("refuses to start a running guest with operation_invalid and keeps the one process", async () => {
    const { view } = await t.fx.driver.defineDomain(guestXml("run2x"));
    const v = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(v.pid);
    await expectRejected(t.fx.driver.startDomain(view.uuid), "operation_invalid");
    expect(t.fx.store.getDomain(view.uuid)?.pid).toBe(v.pid);
    await t.fx.driver.destroyDomain(view.uuid);
  });

  it("refuses to destroy, suspend or send keys to a shut-off guest with operation_invalid", async () => {
    const { view } = await t.fx.driver.defineDomain(guestXml("off1"));
    await expectRejected(t.fx.driver.destroyDomain(view.uuid), "operation_invalid");
    await expectRejected(t.fx.driver.suspendDomain(view.uuid), "operation_invalid");
    await expectRejected(t.fx.driver.sendKey(view.uuid, [{ type: "qcode", data: "a" }], 10), "operation_invalid");
    await expect(t.fx.driver.destroyDomain(view.uuid)).rejects.toThrow(/is not running/);
  });

  it("answers an unknown uuid with domain.not_found", async () => {
    await expectRejected(t.fx.driver.startDomain("99999999-9999-9999-9999-999999999999"), "domain.not_found");
  });

  it("fails a start QEMU refuses with operation_failed carrying QEMU's message and leaves shutoff/failed", async () => {
    // 4 TiB of guest RAM: accepted by the parser, refused by QEMU at start.
    const { view } = await t.fx.driver.defineDomain(guestXml("toobig", { memoryKiB: 4 * 1024 * 1024 * 1024 * 1024 }));
    const before = runtimeFiles();
    const err = await t.fx.driver.startDomain(view.uuid).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_failed");
    expect((err as AgentError).message).toContain("QEMU said");
    expect(runtimeFiles()).toEqual(before);
    expect(t.fx.store.getDomain(view.uuid)).toMatchObject({ state: "shutoff", reason: "failed" });
  });
});
