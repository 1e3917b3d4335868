import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { statusPath } from "../../../agent/drivers/qemu/status.js";
import { guestXml, makeDriver, type DriverFixture } from "./driver-fixture.js";
import { isAlive, makeTempDirs, PidTracker, requireQemu, sleep, type TempDirs } from "./helpers.js";

describe("QemuDriver re-adopts running guests after an agent restart (real QEMU)", () => {
  let dirs: TempDirs;
  const pids = new PidTracker();
  const drivers: DriverFixture[] = [];
  const fresh = () => {
    const fx = makeDriver(dirs);
    drivers.push(fx);
    return fx;
  };

  beforeAll(() => {
    requireQemu();
  });
  afterEach(async () => {
    for (const fx of drivers.splice(0)) await fx.driver.close();
    pids.killAll();
    dirs?.cleanup();
  });
  afterAll(() => pids.killAll());

  async function expectReadopted(b: DriverFixture, guests: Array<{ uuid: string; pid?: number }>, crashedUuid: string): Promise<void> {
    const alive = guests.filter((g) => g.uuid !== crashedUuid);
    for (const g of alive) {
      expect(b.store.getDomain(g.uuid)).toMatchObject({ state: "running", pid: g.pid });
      expect(isAlive(g.pid!)).toBe(true);
    }
    expect(b.store.getDomain(crashedUuid)).toMatchObject({ state: "shutoff", reason: "crashed" });
    expect(b.eventsOf(crashedUuid)).toEqual(["stopped/crashed"]);
    expect(existsSync(statusPath(dirs.runDir, crashedUuid))).toBe(false);
    const [first, second] = alive;
    expect(await b.driver.suspendDomain(first!.uuid)).toMatchObject({ state: "paused", reason: "user" });
    expect(await b.driver.destroyDomain(first!.uuid)).toMatchObject({ state: "shutoff", reason: "destroyed" });
    expect(isAlive(first!.pid!)).toBe(false);
    const t0 = Date.now();
    const ev = b.bus.waitFor("domain.lifecycle", (p) => p.uuid === second!.uuid && p.event === "stopped", 1500);
    process.kill(second!.pid!, "SIGKILL");
    expect((await ev).payload).toMatchObject({ detail: "crashed" });
    expect(Date.now() - t0).toBeLessThan(1000);
  }

  it("keeps the same three QEMU pids across close() and open(), and notices one killed meanwhile", async () => {
    dirs = makeTempDirs("vb-restart-");
    const a = fresh();
    await a.driver.open();
    const guests = [];
    for (const n of ["ra0", "ra1", "ra2"]) {
      const { view } = await a.driver.defineDomain(guestXml(n));
      const v = await a.driver.startDomain(view.uuid);
      pids.add(v.pid);
      guests.push(v);
    }
    await a.driver.close();
    for (const g of guests) expect(isAlive(g.pid!)).toBe(true);
    const victim = guests[2]!;
    process.kill(victim.pid!, "SIGKILL");
    await sleep(200);

    const b = fresh();
    await b.driver.open();
    expect(b.store.getDomain(guests[0]!.uuid)?.id).toBe(guests[0]!.id);
    expect(b.eventsOf(guests[0]!.uuid)).toEqual([]);
    const { view } = await b.driver.defineDomain(guestXml("rb-new"));
    const started = await b.driver.startDomain(view.uuid);
    pids.add(started.pid);
    // ids keep increasing past the re-adopted ones, as libvirt's do.
    expect(started.id).toBeGreaterThan(Math.max(...guests.map((g) => g.id!)));
    await expectReadopted(b, guests, victim.uuid);
  });

  it("starts autostart guests at open, removes malformed status files and keeps a transient guest transient", async () => {
    dirs = makeTempDirs("vb-auto-");
    const a = fresh();
    await a.driver.open();
    const { view: auto } = await a.driver.defineDomain(guestXml("auto1"));
    await a.driver.setAutostart(auto.uuid, true);
    const { view: tr } = await a.driver.defineDomain(guestXml("trans1"));
    const running = await a.driver.startDomain(tr.uuid);
    pids.add(running.pid);
    await a.driver.undefineDomain(tr.uuid);
    await a.driver.close();
    const junk = join(dirs.runDir, "qemu", "00000000-0000-0000-0000-000000000000.status.json");
    writeFileSync(junk, "{ not json");

    const b = fresh();
    await b.driver.open();
    const started = b.store.getDomain(auto.uuid);
    pids.add(started?.pid);
    expect(started).toMatchObject({ state: "running", reason: "booted", autostart: true });
    expect(b.eventsOf(auto.uuid)).toEqual(["started/booted"]);
    expect(existsSync(junk)).toBe(false);
    expect(b.store.getDomain(tr.uuid)).toMatchObject({ state: "running", persistent: false, pid: running.pid });
    await b.driver.destroyDomain(tr.uuid);
    expect(b.store.getDomain(tr.uuid)).toBeUndefined();
    await b.driver.destroyDomain(auto.uuid);
  });

  it("re-adopts the guests of an agent that was killed with SIGKILL", async () => {
    dirs = makeTempDirs("vb-kill9-");
    const script = fileURLToPath(new URL("./agent-child.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, dirs.stateDir, dirs.runDir, "3", "k"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.trim());
      });
      child.once("exit", (code) => reject(new Error(`agent child exited ${code}: ${stderr}`)));
    });
    const guests = JSON.parse(line) as Array<{ uuid: string; pid: number }>;
    for (const g of guests) pids.add(g.pid);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    for (const g of guests) expect(isAlive(g.pid)).toBe(true);
    process.kill(guests[1]!.pid, "SIGKILL");
    await sleep(200);

    const b = fresh();
    await b.driver.open();
    await expectReadopted(b, guests, guests[1]!.uuid);
  }, 60_000);
});
