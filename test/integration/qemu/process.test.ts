import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { adoptQemu, launchQemu, readStartTime, terminateQemu } from "../../../agent/drivers/qemu/process.js";
import { AgentError } from "../../../agent/model/errors.js";
import { isAlive, makeTempDirs, minimalArgv, PidTracker, QEMU_BINARY, requireQemu, type TempDirs } from "./helpers.js";

describe("QEMU process supervision with a real qemu-system-x86_64", () => {
  let dirs: TempDirs;
  const pids = new PidTracker();
  const paths = (n: string) => ({ monitorPath: join(dirs.runDir, "qemu", `${n}.qmp`), logPath: join(dirs.stateDir, "log", `${n}.log`) });

  beforeAll(() => {
    requireQemu();
    dirs = makeTempDirs("vb-proc-");
  });
  afterEach(() => pids.killAll());
  afterAll(() => dirs.cleanup());

  it("spawns QEMU with the inherited QMP socket and answers query-status", async () => {
    const t0 = performance.now();
    const p = await launchQemu({ binary: QEMU_BINARY, argv: minimalArgv("p1"), ...paths("p1"), qmpTimeoutMs: 5000 });
    const readyMs = performance.now() - t0;
    pids.add(p.pid);
    expect(await p.qmp.execute("query-status")).toMatchObject({ status: "prelaunch", running: false });
    expect(p.startTime).toBe(await readStartTime(p.pid));
    expect(p.child).toBe(true);
    console.info(`spawn -> ready (first QMP reply) ${readyMs.toFixed(1)} ms`);
    await terminateQemu(p);
    expect(isAlive(p.pid)).toBe(false);
  });

  it("delivers QEMU's RESUME and STOP events and correlates concurrent commands", async () => {
    const p = await launchQemu({ binary: QEMU_BINARY, argv: minimalArgv("p5"), ...paths("p5"), qmpTimeoutMs: 5000 });
    pids.add(p.pid);
    const events: string[] = [];
    p.qmp.onEvent((e) => events.push(e.event));
    await p.qmp.execute("cont");
    const [status, name, cpus] = await Promise.all([
      p.qmp.execute<{ status: string }>("query-status"),
      p.qmp.execute<{ name?: string }>("query-name"),
      p.qmp.execute<unknown[]>("query-cpus-fast"),
    ]);
    expect(status.status).toBe("running");
    expect(name.name).toBe("p5");
    expect(cpus).toHaveLength(1);
    await p.qmp.execute("stop");
    await expect(p.qmp.execute("no-such-command")).rejects.toMatchObject({ code: "operation_failed", message: expect.stringContaining("no-such-command") });
    expect(events).toEqual(["RESUME", "STOP"]);
    await terminateQemu(p);
  });

  it("reports a bad argument as operation_failed with QEMU's stderr and leaves no socket or process", async () => {
    const argv = [...minimalArgv("p2"), "-device", "no-such-device"];
    const err = await launchQemu({ binary: QEMU_BINARY, argv, ...paths("p2"), qmpTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("operation_failed");
    expect((err as AgentError).message).toContain("no-such-device");
    expect(existsSync(paths("p2").monitorPath)).toBe(false);
    expect(readFileSync(paths("p2").logPath, "utf8")).toContain("starting");
  });

  it("reports a missing binary as operation_failed", async () => {
    const err = await launchQemu({ binary: "/nonexistent/qemu", argv: minimalArgv("p3"), ...paths("p3"), qmpTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_failed");
    expect(existsSync(paths("p3").monitorPath)).toBe(false);
  });

  it("re-adopts a running QEMU by pid and start time after the first client detached", async () => {
    const p = await launchQemu({ binary: QEMU_BINARY, argv: minimalArgv("p4"), ...paths("p4"), qmpTimeoutMs: 5000 });
    pids.add(p.pid);
    p.qmp.close();
    const again = await adoptQemu({ pid: p.pid, startTime: p.startTime, monitorPath: paths("p4").monitorPath, qmpTimeoutMs: 5000 });
    expect(again?.pid).toBe(p.pid);
    expect(await again?.qmp.execute("query-status")).toMatchObject({ status: "prelaunch" });
    expect(await adoptQemu({ pid: p.pid, startTime: p.startTime + 1, monitorPath: paths("p4").monitorPath, qmpTimeoutMs: 500 })).toBeUndefined();
    const t0 = performance.now();
    process.kill(p.pid, "SIGKILL");
    await again?.exited;
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
