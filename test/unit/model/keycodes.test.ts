import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AgentError } from "../../../agent/model/errors.js";
import * as keycodes from "../../../agent/model/keycodes.js";
import { DEFAULT_CSV, OUTPUT, deriveQnum, renderKeycodesModule, splitCsvLine } from "../../../scripts/gen-keycodes.js";

const CSV = readFileSync(DEFAULT_CSV, "utf8");

/** keymaps.csv column of each codeset (qnum is derived from AT set 1). */
const COLUMN: Record<keycodes.Codeset, string> = {
  linux: "Linux Keycode",
  xt: "Xwin XT",
  atset1: "AT set1 keycode",
  atset2: "AT set2 keycode",
  atset3: "AT set3 keycode",
  os_x: "OS-X Keycode",
  xt_kbd: "Xfree86 KBD XT",
  usb: "USB Keycodes",
  win32: "Win32 Keycode",
  qnum: "AT set1 keycode",
};

interface CsvKey {
  linux: number;
  named: boolean;
  values: Partial<Record<keycodes.Codeset, number>>;
}

function readCsvKeys(): CsvKey[] {
  const [head, ...lines] = CSV.split(/\r?\n/).filter((l) => l !== "");
  const header = splitCsvLine(head!);
  return lines.map((line) => {
    const f = splitCsvLine(line);
    const get = (col: string) => f[header.indexOf(col)] ?? "";
    const values: Partial<Record<keycodes.Codeset, number>> = {};
    for (const c of keycodes.CODESETS) {
      const raw = get(COLUMN[c]);
      const n = raw === "" ? null : c === "qnum" ? deriveQnum(Number(raw)) : Number(raw);
      if (n !== null) values[c] = n;
    }
    return { linux: Number(get("Linux Keycode")), named: get("Linux Name") !== "", values };
  });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof AgentError ? e.code : `foreign: ${String(e)}`;
  }
  return "no error";
}

describe("keycode tables", () => {
  it("the committed keycodes-data.ts is exactly what the generator makes from keymaps.csv", () => {
    expect(renderKeycodesModule(CSV)).toBe(readFileSync(OUTPUT, "utf8"));
  });

  it("codesets are numbered as libvirt's virKeycodeSet and accept its aliases", () => {
    expect(keycodes.CODESETS.map((c) => [c, keycodes.codesetNumber(c)])).toEqual([
      ["linux", 0], ["xt", 1], ["atset1", 2], ["atset2", 3], ["atset3", 4],
      ["os_x", 5], ["xt_kbd", 6], ["usb", 7], ["win32", 8], ["qnum", 9],
    ]);
    expect(keycodes.parseCodeset("osx")).toBe("os_x");
    expect(keycodes.parseCodeset("rfb")).toBe("qnum");
    expect(() => keycodes.parseCodeset("ebcdic")).toThrow(/unknown codeset "ebcdic"/);
    expect(codeOf(() => keycodes.parseCodeset("toString"))).toBe("invalid_arg");
  });

  it("every keymaps.csv row round-trips linux to set to linux where the key exists in the set", () => {
    const keys = readCsvKeys();
    let checked = 0;
    for (const c of keycodes.CODESETS) {
      // Several keys share one code in some sets (e.g. VK_OEM_102 is both 102ND and RO): the
      // reverse lookup gives the first named key, so identity holds for keys that own a code.
      const owner = new Map<number, number>();
      for (const k of keys) {
        const v = k.values[c];
        if (v !== undefined && k.named && !owner.has(v)) owner.set(v, k.linux);
      }
      for (const k of keys) {
        const v = k.values[c];
        if (v === undefined) continue;
        expect(keycodes.toLinux(c, v), `${c} ${v} of linux ${k.linux}`).toBe(owner.get(v) ?? k.linux);
        const ownsACode = keys.some((o) => o.linux === k.linux && o.values[c] !== undefined && (owner.get(o.values[c]!) ?? k.linux) === k.linux);
        if (ownsACode) expect(keycodes.toLinux(c, keycodes.fromLinux(c, k.linux)), `${c} linux ${k.linux}`).toBe(k.linux);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1800);
  });

  it("every key missing from a set gives invalid_arg instead of a code", () => {
    const keys = readCsvKeys();
    let missing = 0;
    for (const c of keycodes.CODESETS) {
      const present = new Set(keys.filter((k) => k.values[c] !== undefined).map((k) => k.linux));
      for (const linux of new Set(keys.map((k) => k.linux))) {
        if (present.has(linux)) continue;
        expect(codeOf(() => keycodes.fromLinux(c, linux)), `${c} ${linux}`).toBe("invalid_arg");
        missing++;
      }
    }
    expect(missing).toBeGreaterThan(1000);
  });

  it("qnum folds 0xe0-prefixed AT set 1 codes into 0x80|XX as QEMU does", () => {
    expect(keycodes.fromLinux("qnum", 96)).toBe(0x9c); // KPENTER e0 1c
    expect(keycodes.fromLinux("qnum", 97)).toBe(0x9d); // RIGHTCTRL e0 1d
    expect(keycodes.fromLinux("qnum", 119)).toBe(0xc6); // PAUSE as Ctrl-Break e0 46
    expect(keycodes.fromLinux("qnum", 116)).toBe(0xde); // POWER e0 5e
    expect(keycodes.toLinux("qnum", 0x54)).toBe(99); // SysRq, not unnamed code 84
    expect(keycodes.fromLinux("qnum", 30)).toBe(0x1e);
  });

  it("translates between two sets through the linux code", () => {
    expect(keycodes.translate("atset1", "usb", 0xe01d)).toBe(228);
    expect(keycodes.translate("usb", "win32", 4)).toBe(0x41);
    expect(keycodes.translate("os_x", "linux", 0x00)).toBe(30);
    expect(codeOf(() => keycodes.translate("linux", "os_x", 99))).toBe("invalid_arg");
  });
});

describe("key names and numbers", () => {
  it("names of linux, os_x, win32 and qnum sets resolve to the linux code", () => {
    expect(keycodes.keyToLinux("linux", "KEY_RIGHTCTRL")).toBe(97);
    expect(keycodes.keyToLinux("linux", "KEY_SHIFT")).toBe(42);
    expect(keycodes.keyToLinux("os_x", "ANSI_A")).toBe(30);
    expect(keycodes.keyToLinux("win32", "VK_RCONTROL")).toBe(97);
    expect(keycodes.keyToLinux("qnum", "kp_enter")).toBe(96);
  });

  it("names are case-sensitive as in libvirt", () => {
    expect(() => keycodes.keyToLinux("linux", "key_a")).toThrow(/unknown key "key_a" in codeset linux \(names are case-sensitive\)/);
  });

  it("numbers are decimal or 0x hex, and a leading-zero decimal is refused", () => {
    expect(keycodes.keyToLinux("linux", "28")).toBe(28);
    expect(keycodes.keyToLinux("atset1", "0xE01C")).toBe(96);
    expect(keycodes.keyToLinux("xt", 0x64)).toBe(96);
    expect(codeOf(() => keycodes.keyToLinux("linux", "010"))).toBe("invalid_arg");
    expect(codeOf(() => keycodes.keyToLinux("linux", -1))).toBe("invalid_arg");
    expect(codeOf(() => keycodes.keyToLinux("linux", 1.5))).toBe("invalid_arg");
  });

  it("a set without names says so when given a name", () => {
    expect(() => keycodes.keyToLinux("usb", "KEY_A")).toThrow(/no key names; use a number/);
  });

  it("a number the set does not use is an error naming the set, never a silent 0", () => {
    expect(() => keycodes.keyToLinux("atset1", 0x7f)).toThrow(/no key with code 127 \(0x7f\) in codeset atset1/);
  });
});
