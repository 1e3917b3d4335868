import { describe, expect, it } from "vitest";
import { guestXml } from "./driver-fixture.js";
import { useOpenDriver } from "./open-driver.js";
import { isAlive, sleep } from "./helpers.js";

/**
 * SeaBIOS has no OS to answer ACPI, so the guest's own power-off is simulated the way a
 * guest kernel does it: writing SLP_TYP=S5|SLP_EN (0x2000) to the PIIX4 PM1a control
 * register (port 0x604, set up by SeaBIOS) through HMP's `o/w`. QEMU then reports
 * SHUTDOWN {guest: true, reason: "guest-shutdown"} exactly as for a real guest.
 */
const GUEST_POWEROFF = "o/w 0x604 0x2000";

describe("QemuDriver reacts to guest-initiated events (real QEMU)", () => {
  const t = useOpenDriver("vb-guest-");

  async function running(name: string, onPoweroff?: string) {
    const xml = guestXml(name).replace("</devices>", `</devices>${onPoweroff ? `<on_poweroff>${onPoweroff}</on_poweroff>` : ""}`);
    const { view } = await t.fx.driver.defineDomain(xml);
    const v = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(v.pid);
    await sleep(300); // let SeaBIOS program the PM I/O base
    return v;
  }

  it("turns a guest power-off into shutdown/finished then stopped/shutdown and ends the process", async () => {
    const v = await running("poweroff1");
    const stopped = t.fx.bus.waitFor("domain.lifecycle", (p) => p.uuid === v.uuid && p.event === "stopped", 5000);
    await t.fx.driver.monitorCommand(v.uuid, GUEST_POWEROFF);
    expect((await stopped).payload).toMatchObject({ detail: "shutdown", state: "shutoff", reason: "shutdown" });
    expect(t.fx.eventsOf(v.uuid)).toEqual(["defined/added", "started/booted", "shutdown/finished", "stopped/shutdown"]);
    expect(isAlive(v.pid!)).toBe(false);
  });

  it("keeps the process after a guest power-off when on_poweroff is preserve", async () => {
    const v = await running("preserve1", "preserve");
    const shutdown = t.fx.bus.waitFor("domain.lifecycle", (p) => p.uuid === v.uuid && p.event === "shutdown", 5000);
    await t.fx.driver.monitorCommand(v.uuid, GUEST_POWEROFF);
    await shutdown;
    await sleep(200);
    expect(t.fx.store.getDomain(v.uuid)).toMatchObject({ state: "shutdown", reason: "user", pid: v.pid });
    expect(isAlive(v.pid!)).toBe(true);
    expect(t.fx.store.getDomain(v.uuid)?.tainted).toBe(true);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("turns the power-off that follows a reboot request into a reset, with no stop events", async () => {
    const v = await running("reboot1");
    await t.fx.driver.rebootDomain(v.uuid);
    await t.fx.driver.monitorCommand(v.uuid, GUEST_POWEROFF);
    await sleep(500);
    expect(t.fx.store.getDomain(v.uuid)).toMatchObject({ state: "running", pid: v.pid });
    expect(isAlive(v.pid!)).toBe(true);
    expect(t.fx.eventsOf(v.uuid)).toEqual(["defined/added", "started/booted"]);
    await t.fx.driver.destroyDomain(v.uuid);
  });

  it("resets a running guest in place without lifecycle events", async () => {
    const v = await running("reset1");
    expect(await t.fx.driver.resetDomain(v.uuid)).toMatchObject({ state: "running", pid: v.pid });
    expect(t.fx.eventsOf(v.uuid)).toEqual(["defined/added", "started/booted"]);
    await t.fx.driver.destroyDomain(v.uuid);
  });
});
