/**
 * Vitest hooks around an opened QemuDriver. Kept apart from driver-fixture.ts, which the
 * agent child process (agent-child.ts) imports outside vitest.
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import type { QemuDriverOptions } from "../../../agent/drivers/qemu/driver.js";
import { makeDriver, type DriverFixture } from "./driver-fixture.js";
import { makeTempDirs, PidTracker, requireQemu, type TempDirs } from "./helpers.js";

export interface OpenDriver {
  fx: DriverFixture;
  dirs: TempDirs;
  pids: PidTracker;
}

/**
 * Registers the hooks every driver test file needs (call inside `describe`): fail without
 * QEMU, an opened driver on fresh temp dirs before all tests, leftover QEMUs killed after
 * each test, the driver closed and the dirs removed after all. Fields are set in beforeAll.
 */
export function useOpenDriver(prefix: string, opts: Pick<QemuDriverOptions, "qemuUser"> = {}): OpenDriver {
  const t = { pids: new PidTracker() } as OpenDriver;
  beforeAll(async () => {
    requireQemu();
    t.dirs = makeTempDirs(prefix);
    t.fx = makeDriver(t.dirs, opts);
    await t.fx.driver.open();
  });
  afterEach(() => t.pids.killAll());
  afterAll(async () => {
    await t.fx?.driver.close();
    t.pids.killAll();
    t.dirs?.cleanup();
  });
  return t;
}
