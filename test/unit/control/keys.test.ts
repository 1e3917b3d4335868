import { beforeEach, describe, expect, it } from "vitest";
import type { Caller } from "../../../agent/control/types.js";
import { AgentError } from "../../../agent/model/errors.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";

const CLI: Caller = { user: "root", via: "cli" };

let h: Harness;
let uuid: string;

beforeEach(async () => {
  h = await makeHarness({ demoDomains: 1 });
  uuid = h.store.findDomain("demo-1")!.uuid;
});

function sent() {
  return h.fake.keyLog.get(uuid) ?? [];
}

async function failure(op: string, args: Record<string, unknown>): Promise<AgentError> {
  const out = await h.dispatcher.run(op, args, CLI);
  expect(out.ok, `${op} should fail`).toBe(false);
  return out.error!;
}

describe("domain.send_key", () => {
  it("sends linux key names as QEMU qcodes with QEMU's default hold when holdtime is omitted", async () => {
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", keys: ["KEY_LEFTCTRL", "KEY_LEFTALT", "KEY_DELETE"] }, CLI);
    expect(sent()).toHaveLength(1);
    expect(sent()[0]!.keys).toEqual([
      { type: "qcode", data: "ctrl" },
      { type: "qcode", data: "alt" },
      { type: "qcode", data: "delete" },
    ]);
    expect(sent()[0]!.holdTimeMs).toBe(0);
  });

  it("translates numbers of another codeset through the linux code", async () => {
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", codeset: "atset1", holdtime: 50, keys: ["0xe01c", 0x1d, "0xe01d"] }, CLI);
    expect(sent()[0]!.keys.map((k) => k.data)).toEqual(["kp_enter", "ctrl", "ctrl_r"]);
    expect(sent()[0]!.holdTimeMs).toBe(50);
  });

  it("accepts the rfb and osx aliases and win32 names", async () => {
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", codeset: "rfb", keys: [0x9c] }, CLI);
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", codeset: "osx", keys: ["ANSI_A"] }, CLI);
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", codeset: "win32", keys: ["VK_RCONTROL"] }, CLI);
    expect(sent().map((p) => p.keys[0]!.data)).toEqual(["kp_enter", "a", "ctrl_r"]);
  });

  it("falls back to the qnum number only for a key whose qcode this QEMU lacks", async () => {
    await h.dispatcher.dispatch("domain.send_key", { domain: "demo-1", keys: ["KEY_F13", "KEY_A"] }, CLI);
    expect(sent()[0]!.keys).toEqual([
      { type: "number", data: 0x5d },
      { type: "qcode", data: "a" },
    ]);
  });

  it("refuses a key with neither a known qcode nor a qnum and sends nothing", async () => {
    const e = await failure("domain.send_key", { domain: "demo-1", keys: ["KEY_A", "KEY_POWER2"] });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toMatch(/KEY_POWER2 \(linux 356\) cannot be sent/);
    expect(sent()).toEqual([]);
  });

  it("an unknown key name is invalid_arg naming the key, and nothing is sent", async () => {
    const e = await failure("domain.send_key", { domain: "demo-1", keys: ["KEY_A", "KEY_NOPE"] });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toContain('unknown key "KEY_NOPE" in codeset linux');
    expect(sent()).toEqual([]);
  });

  it("a key absent from the chosen set is invalid_arg, and nothing is sent", async () => {
    const e = await failure("domain.send_key", { domain: "demo-1", codeset: "xt", keys: [0x7f] });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toContain("no key with code 127 (0x7f) in codeset xt");
    expect(sent()).toEqual([]);
  });

  it("an unknown codeset is invalid_arg listing the valid ones", async () => {
    const e = await failure("domain.send_key", { domain: "demo-1", codeset: "ebcdic", keys: [1] });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toContain("expected one of linux, xt, atset1");
    expect(sent()).toEqual([]);
  });

  it("17 keys are refused and nothing is sent", async () => {
    const e = await failure("domain.send_key", { domain: "demo-1", keys: Array.from({ length: 17 }, () => "KEY_A") });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toMatch(/keys: must NOT have more than 16 items/);
    expect(sent()).toEqual([]);
  });

  it.each([-1, 20_000, 1.5])("holdtime %s is refused and nothing is sent", async (holdtime) => {
    const e = await failure("domain.send_key", { domain: "demo-1", holdtime, keys: ["KEY_A"] });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toMatch(/holdtime/);
    expect(sent()).toEqual([]);
  });

  it("a paused guest gets operation_invalid and nothing is sent", async () => {
    await h.dispatcher.dispatch("domain.suspend", { domain: "demo-1" }, CLI);
    const e = await failure("domain.send_key", { domain: "demo-1", keys: ["KEY_A"] });
    expect(e.code).toBe("operation_invalid");
    expect(e.message).toMatch(/paused/);
    expect(sent()).toEqual([]);
  });

  it("a shut-off guest gets operation_invalid", async () => {
    await h.dispatcher.dispatch("domain.destroy", { domain: "demo-1" }, CLI);
    expect((await failure("domain.send_key", { domain: "demo-1", keys: ["KEY_A"] })).code).toBe("operation_invalid");
  });
});

describe("domain.type_text", () => {
  it("types each character as one chord, holding shift for capitals and symbols", async () => {
    const r = await h.dispatcher.dispatch("domain.type_text", { domain: "demo-1", text: "hello, World!\n" }, CLI);
    expect(r).toEqual({ characters: 14, layout: "us" });
    const chords = sent().map((p) => p.keys.map((k) => k.data).join("+"));
    expect(chords).toEqual(["h", "e", "l", "l", "o", "comma", "spc", "shift+w", "o", "r", "l", "d", "shift+1", "ret"]);
  });

  it("names every character the layout cannot type, once each, and sends nothing", async () => {
    const e = await failure("domain.type_text", { domain: "demo-1", text: "héllo € é\u0007" });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toBe('layout us cannot type "é" (U+00E9), "€" (U+20AC), U+0007');
    expect(sent()).toEqual([]);
  });

  it("refuses text over 4096 characters and an unknown layout", async () => {
    expect((await failure("domain.type_text", { domain: "demo-1", text: "a".repeat(4097) })).message).toMatch(/1\.\.4096 characters, got 4097/);
    expect((await failure("domain.type_text", { domain: "demo-1", text: "a", layout: "dvorak" })).message).toMatch(/unknown keyboard layout "dvorak"/);
    expect(sent()).toEqual([]);
  });

  it("waits delay_ms between characters when asked", async () => {
    await h.dispatcher.dispatch("domain.type_text", { domain: "demo-1", text: "abc", delay_ms: 40 }, CLI);
    const at = sent().map((p) => p.at);
    expect(at[2]! - at[0]!).toBeGreaterThanOrEqual(75);
  });

  it("a paused guest gets operation_invalid and nothing is typed", async () => {
    await h.dispatcher.dispatch("domain.suspend", { domain: "demo-1" }, CLI);
    expect((await failure("domain.type_text", { domain: "demo-1", text: "abc" })).code).toBe("operation_invalid");
    expect(sent()).toEqual([]);
  });
});

describe("domain.keycode", () => {
  it("gives a key's code in every set and whether the guest's QEMU has its qcode", async () => {
    const r = (await h.dispatcher.dispatch("domain.keycode", { domain: "demo-1", from: "usb", keys: [228, 104] }, CLI)) as Array<Record<string, unknown>>;
    expect(r[0]).toMatchObject({ linux: 97, name: "KEY_RIGHTCTRL", qcode: "ctrl_r", qcode_supported: true });
    expect(r[0]!["codes"]).toMatchObject({ linux: 97, atset1: 0xe01d, qnum: 0x9d, win32: 0xa3, os_x: 0x3e });
    expect(r[1]).toMatchObject({ name: "KEY_F13", qcode: "f13", qcode_supported: false });
  });
});
