import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../../../agent/core/atomic-file.js";
import { parseStatus, removeStatus, scanStatus, STATUS_VERSION, statusPath, writeStatus, type GuestStatus } from "../../../../agent/drivers/qemu/status.js";
import type { DomainDef } from "../../../../agent/model/domain-def.js";

const UUID = "6f0c9d4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f";

function sample(): GuestStatus {
  return {
    v: STATUS_VERSION,
    uuid: UUID,
    name: "g1",
    pid: 4242,
    startTime: 123456,
    monitorPath: "/run/virtbus/qemu/x.qmp",
    taps: ["vnet0"],
    vcpuThreads: [4243],
    state: "running",
    reason: "booted",
    id: 7,
    startedAt: 1_700_000_000_000,
    persistent: true,
    def: { name: "g1", uuid: UUID } as unknown as DomainDef,
  };
}

describe("guest status files and atomic writes", () => {
  let runDir: string;
  beforeEach(() => {
    runDir = mkdtempSync(join(tmpdir(), "vb-status-"));
    mkdirSync(join(runDir, "qemu"));
  });
  afterEach(() => rmSync(runDir, { recursive: true, force: true }));

  it("round-trips a status file with mode 0600 and no temp file left behind", async () => {
    await writeStatus(runDir, sample());
    expect(statSync(statusPath(runDir, UUID)).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(runDir, "qemu"))).toEqual([`${UUID}.status.json`]);
    expect((await scanStatus(runDir)).valid).toEqual([sample()]);
    await removeStatus(runDir, UUID);
    expect(readdirSync(join(runDir, "qemu"))).toEqual([]);
  });

  it("classifies a torn, foreign or misnamed status file as invalid", async () => {
    writeFileSync(join(runDir, "qemu", `${UUID}.status.json`), '{"v":1,"uuid":');
    writeFileSync(join(runDir, "qemu", "11111111-1111-4111-8111-111111111111.status.json"), JSON.stringify(sample()));
    const scan = await scanStatus(runDir);
    expect(scan.valid).toEqual([]);
    expect(scan.invalid).toHaveLength(2);
  });

  it("rejects a status whose uuid is not canonical because it would become a path", () => {
    expect(parseStatus(JSON.stringify({ ...sample(), uuid: "../../etc/x" }))).toBeUndefined();
    expect(parseStatus(JSON.stringify({ ...sample(), pid: 0 }))).toBeUndefined();
    expect(parseStatus(JSON.stringify({ ...sample(), state: "flying" }))).toBeUndefined();
  });

  it("removes its temp file and leaves the target intact when the final rename fails", async () => {
    const path = join(runDir, "f.txt");
    await writeFileAtomic(path, "old");
    // Renaming a file over a directory fails (EISDIR): the step after the fsync'd temp write.
    mkdirSync(join(runDir, "d"));
    await expect(writeFileAtomic(join(runDir, "d"), "x")).rejects.toMatchObject({ code: "operation_failed" });
    expect(readdirSync(runDir).sort()).toEqual(["d", "f.txt", "qemu"]);
    await writeFileAtomic(path, "new");
    expect(readFileSync(path, "utf8")).toBe("new");
  });
});
