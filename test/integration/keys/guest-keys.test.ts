import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../agent/cli.js";
import { silentLogger } from "../../../agent/core/log.js";
import { LocalSocketServer } from "../../../agent/exporters/local/socket-server.js";
import { AgentError } from "../../../agent/model/errors.js";
import { CALLER, keyEvents, startKeyGuest, syncKeys, type KeyGuest } from "./guest-fixture.js";

/**
 * Keys sent through the agent (dispatch → QemuDriver → QMP send-key) reach a real Linux
 * guest (Debian kernel, TCG) as exactly these input codes. Power arrives from the PS/2
 * keyboard as KEY_POWER (116) on the same event device as the other keys: QEMU's qcode
 * `power` is a keyboard scancode (e0 5e), not an ACPI button event.
 */
const EXPECTED: Array<[codeset: string, key: string | number, linux: number]> = [
  ["linux", "KEY_RIGHTCTRL", 97],
  ["linux", "KEY_UP", 103],
  ["usb", 81, 108], // KEY_DOWN
  ["atset1", "0xe04b", 105], // KEY_LEFT
  ["win32", "VK_RIGHT", 106],
  ["linux", "KEY_KPENTER", 96],
  ["linux", "KEY_SYSRQ", 99],
  ["linux", "KEY_PAUSE", 119],
  ["linux", "KEY_102ND", 86],
  ["linux", "KEY_RO", 89],
  ["linux", "KEY_YEN", 124],
  ["qnum", "power", 116],
];

describe("send-key into a real Linux guest under TCG", () => {
  let g: KeyGuest;

  beforeAll(async () => {
    g = await startKeyGuest("keys-probe");
  }, 180_000);
  afterAll(async () => {
    await g?.stop();
  });

  it("keys sent through the agent arrive in the guest as the exact Linux codes", async () => {
    const from = g.serial().length;
    for (const [codeset, key] of EXPECTED) {
      await g.dispatcher.dispatch("domain.send_key", { domain: "keys-probe", codeset, keys: [key] }, CALLER);
    }
    const want = EXPECTED.flatMap(([, , l]) => [`${l} 1`, `${l} 0`]);
    const s = await g.waitFor((x) => keyEvents(x, from).length >= want.length, 30_000, `${want.length} key events`);
    expect(keyEvents(s, from)).toEqual(want);
  }, 60_000);

  it("a chord is pressed in order and released in reverse", async () => {
    const from = await syncKeys(g);
    await g.dispatcher.dispatch("domain.send_key", { domain: "keys-probe", keys: ["KEY_LEFTSHIFT", "KEY_RIGHTCTRL", "KEY_F12"] }, CALLER);
    const s = await g.waitFor((x) => keyEvents(x, from).length >= 6, 20_000, "6 key events");
    expect(keyEvents(s, from)).toEqual(["42 1", "97 1", "88 1", "88 0", "97 0", "42 0"]);
  }, 30_000);

  it('type_text "hello, World!" arrives in the guest as that line', async () => {
    // The probe keys above left escape sequences in the VT's line buffer: end that line first.
    const from = await syncKeys(g, "KEY_ENTER", 28);
    await g.dispatcher.dispatch("domain.type_text", { domain: "keys-probe", text: "hello, World!\n" }, CALLER);
    const s = await g.waitFor((x) => /^LINE /m.test(x.slice(from)), 30_000, "a typed line");
    expect(s.slice(from).match(/^LINE .*$/m)?.[0].trimEnd()).toBe("LINE hello, World!");
  }, 45_000);

  it("a paused guest gets operation_invalid and receives nothing after it resumes", async () => {
    const from = await syncKeys(g);
    await g.dispatcher.dispatch("domain.suspend", { domain: "keys-probe" }, CALLER);
    const out = await g.dispatcher.run("domain.send_key", { domain: "keys-probe", keys: ["KEY_A"] }, CALLER);
    expect(out.error).toBeInstanceOf(AgentError);
    expect(out.error?.code).toBe("operation_invalid");
    await g.dispatcher.dispatch("domain.resume", { domain: "keys-probe" }, CALLER);
    await g.dispatcher.dispatch("domain.send_key", { domain: "keys-probe", keys: ["KEY_Z"] }, CALLER);
    const s = await g.waitFor((x) => keyEvents(x, from).length >= 2, 20_000, "the marker key");
    expect(keyEvents(s, from)).toEqual(["44 1", "44 0"]);
  }, 30_000);

  it("virtbus send-key and type-text over the control socket accept virsh syntax and reach the guest", async () => {
    const path = join(g.dirs.root, "cli.sock");
    const server = new LocalSocketServer({ path, dispatcher: g.dispatcher, bus: g.bus, log: silentLogger() });
    await server.start();
    try {
      const from = await syncKeys(g, "KEY_ENTER", 28);
      const cli = (...args: string[]) => main(["node", "virtbus", "--socket", path, ...args]);
      expect(await cli("send-key", "keys-probe", "--codeset", "usb", "--holdtime", "20", "0x52", "81")).toBe(0); // up, down
      expect(await cli("send-key", "keys-probe", "KEY_NOPE")).toBe(2);
      expect(await cli("type-text", "keys-probe", "Bye.\n")).toBe(0);
      const s = await g.waitFor((x) => /^LINE /m.test(x.slice(from)), 30_000, "the CLI's typed line");
      expect(keyEvents(s, from).slice(0, 4)).toEqual(["103 1", "108 1", "108 0", "103 0"]);
      expect(s.slice(from).match(/^LINE .*$/m)?.[0]).toContain("Bye.");
    } finally {
      await server.stop();
    }
  }, 45_000);

  it("the running QEMU's QKeyCode enum has a qcode for every probed key", async () => {
    const qcodes = await g.driver.supportedQcodes(g.uuid);
    for (const q of ["ctrl_r", "up", "down", "left", "right", "kp_enter", "sysrq", "print", "pause", "less", "ro", "yen", "power"]) {
      expect(qcodes.has(q), q).toBe(true);
    }
    expect(qcodes.has("no_such_key")).toBe(false);
  });
});
