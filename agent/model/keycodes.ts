/**
 * Keycode sets and translation between them (libvirt's virkeycode). Every translation
 * goes through the Linux input code, as libvirt's does. A key a set lacks is an
 * `invalid_arg` AgentError, never a silent 0.
 *
 * Name lookup is case-sensitive, exactly as libvirt's virKeycodeValueFromString (STREQ):
 * `KEY_A` is a name, `key_a` is not. Names exist for linux (KEY_*, BTN_*), os_x, win32
 * (VK_*) and, as a virtbus extension, qnum (QEMU QKeyCode names such as `ctrl_r`).
 * Numbers are decimal or 0x-hex; a decimal with a leading zero is rejected because virsh
 * parses it as octal (strtol base 0) and silently meaning something else is worse.
 */
import { AgentError } from "./errors.js";
import { KEY_ROWS, type KeyRow } from "./keycodes-data.js";

/** Codeset names, in libvirt's virKeycodeSet order: the index is the libvirt number. */
export const CODESETS = ["linux", "xt", "atset1", "atset2", "atset3", "os_x", "xt_kbd", "usb", "win32", "qnum"] as const;
export type Codeset = (typeof CODESETS)[number];

/** Other spellings libvirt and virsh accept. */
export const CODESET_ALIASES: Readonly<Record<string, Codeset>> = { osx: "os_x", rfb: "qnum" };

/** Sets that have symbolic names, and the KeyRow column holding them. */
const NAME_COLUMN: Partial<Record<Codeset, number>> = { linux: 10, os_x: 11, win32: 12, qnum: 13 };

/** Largest code any set uses is below this (AT set 1/2 two-byte codes such as 0xe046). */
export const MAX_KEY_VALUE = 0xffff;

interface CodesetTable {
  fromLinux: Map<number, number>;
  toLinux: Map<number, number>;
  names: Map<string, number>;
}

function isNamed(row: KeyRow): boolean {
  return row[10] !== null;
}

/**
 * Reverse lookups prefer a named Linux key over an unnamed one (0x54 is SysRq, not code
 * 84), then CSV order. Forward lookups prefer a value that maps back to the same key
 * (win32 0x15 belongs to linux 90 first, so KEY_HANGEUL's win32 code is its other value
 * 0x16), so linux → set → linux is the identity wherever the set can express it.
 */
function buildTable(index: number): CodesetTable {
  const t: CodesetTable = { fromLinux: new Map(), toLinux: new Map(), names: new Map() };
  const namedOwner = new Map<number, boolean>();
  for (const row of KEY_ROWS) {
    const value = row[index] as number | null;
    if (value === null) continue;
    if (!t.toLinux.has(value) || (namedOwner.get(value) === false && isNamed(row))) {
      t.toLinux.set(value, row[0]);
      namedOwner.set(value, isNamed(row));
    }
  }
  for (const row of KEY_ROWS) {
    const value = row[index] as number | null;
    if (value === null) continue;
    const current = t.fromLinux.get(row[0]);
    if (current === undefined || (t.toLinux.get(current) !== row[0] && t.toLinux.get(value) === row[0])) t.fromLinux.set(row[0], value);
  }
  return t;
}

function addNames(t: CodesetTable, column: number): void {
  for (const row of KEY_ROWS) {
    const name = row[column] as string | null;
    if (name !== null && !t.names.has(name)) t.names.set(name, row[0]);
  }
}

const TABLES: ReadonlyMap<Codeset, CodesetTable> = new Map(
  CODESETS.map((c, i) => {
    const t = buildTable(i);
    const col = NAME_COLUMN[c];
    if (col !== undefined) addNames(t, col);
    return [c, t] as const;
  }),
);

/** Linux code → QEMU QKeyCode name; the first CSV row wins where two qcodes share a key (99: print/sysrq). */
const QCODES = new Map<number, string>();
const LINUX_NAMES = new Map<number, string>();
for (const row of KEY_ROWS) {
  if (row[13] !== null && !QCODES.has(row[0])) QCODES.set(row[0], row[13]);
  if (row[10] !== null && !LINUX_NAMES.has(row[0])) LINUX_NAMES.set(row[0], row[10]);
}

function table(c: Codeset): CodesetTable {
  const t = TABLES.get(c);
  if (!t) throw new AgentError("internal", `no keycode table for ${c}`, { component: "conf" });
  return t;
}

/** libvirt's virKeycodeSet number of a set (linux=0 … qnum=9). */
export function codesetNumber(c: Codeset): number {
  return CODESETS.indexOf(c);
}

/** Accepts a set name or alias; throws invalid_arg listing the valid names. */
export function parseCodeset(name: string): Codeset {
  const alias = Object.hasOwn(CODESET_ALIASES, name) ? CODESET_ALIASES[name] : undefined;
  const c = (CODESETS as readonly string[]).includes(name) ? (name as Codeset) : alias;
  if (c === undefined) {
    const all = [...CODESETS, ...Object.keys(CODESET_ALIASES)].join(", ");
    throw new AgentError("invalid_arg", `unknown codeset "${name}" (expected one of ${all})`, { component: "conf" });
  }
  return c;
}

/** Parses "28" or "0x1c"; undefined when `s` is not such a number. */
export function parseKeyNumber(s: string): number | undefined {
  if (/^0x[0-9a-f]{1,8}$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^(0|[1-9][0-9]{0,9})$/.test(s)) return Number.parseInt(s, 10);
  return undefined;
}

/** A key's label for messages: `KEY_A (linux 30)`. */
export function describeLinux(linux: number): string {
  const name = LINUX_NAMES.get(linux);
  return name === undefined ? `linux ${linux}` : `${name} (linux ${linux})`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The Linux code of `value` in `codeset`; throws invalid_arg when the set has no such code. */
export function toLinux(codeset: Codeset, value: number): number {
  const linux = table(codeset).toLinux.get(value);
  if (linux === undefined) {
    throw new AgentError("invalid_arg", `no key with code ${value} (${hex(value)}) in codeset ${codeset}`, {
      component: "conf",
      details: { codeset, value },
    });
  }
  return linux;
}

/** The code of Linux key `linux` in `codeset`; throws invalid_arg when the key is absent from that set. */
export function fromLinux(codeset: Codeset, linux: number): number {
  const v = table(codeset).fromLinux.get(linux);
  if (v === undefined) {
    throw new AgentError("invalid_arg", `key ${describeLinux(linux)} has no code in codeset ${codeset}`, {
      component: "conf",
      details: { codeset, linux },
    });
  }
  return v;
}

/** Like fromLinux but undefined instead of an error (for listing a key in every set). */
export function tryFromLinux(codeset: Codeset, linux: number): number | undefined {
  return table(codeset).fromLinux.get(linux);
}

/**
 * Resolves a key as virsh send-key accepts it (a name of `codeset`, or a decimal/0x-hex
 * number, or a JSON integer) to its Linux code. Throws invalid_arg naming the key.
 */
export function keyToLinux(codeset: Codeset, key: number | string): number {
  if (typeof key === "number") {
    if (!Number.isInteger(key) || key < 0 || key > MAX_KEY_VALUE) {
      throw new AgentError("invalid_arg", `key code ${key} out of range 0..${MAX_KEY_VALUE}`, { component: "conf" });
    }
    return toLinux(codeset, key);
  }
  const byName = table(codeset).names.get(key);
  if (byName !== undefined) return byName;
  const n = parseKeyNumber(key);
  if (n === undefined || n > MAX_KEY_VALUE) {
    const hint = NAME_COLUMN[codeset] === undefined ? " (this codeset has no key names; use a number)" : " (names are case-sensitive)";
    throw new AgentError("invalid_arg", `unknown key "${key}" in codeset ${codeset}${hint}`, { component: "conf", details: { codeset, key } });
  }
  return toLinux(codeset, n);
}

/** Translates a code between two sets through the Linux code. */
export function translate(from: Codeset, to: Codeset, value: number): number {
  return fromLinux(to, toLinux(from, value));
}

/** QEMU QKeyCode name of a Linux key, if the table has one. */
export function qcodeOf(linux: number): string | undefined {
  return QCODES.get(linux);
}

/** The Linux KEY_* name, if any. */
export function linuxName(linux: number): string | undefined {
  return LINUX_NAMES.get(linux);
}

/** Every name a set gives this Linux key (several for e.g. KEY_SHIFT/KEY_LEFTSHIFT). */
export function namesOf(codeset: Codeset, linux: number): string[] {
  return [...table(codeset).names].filter(([, l]) => l === linux).map(([n]) => n);
}

/** Every Linux code that has a value in at least one set. */
export function allLinuxCodes(): number[] {
  return [...new Set(KEY_ROWS.map((r) => r[0]))].sort((a, b) => a - b);
}

/** A key in every set (null where absent), as `virtbus keycode` prints it. */
export interface KeyDescription {
  linux: number;
  name: string | null;
  qcode: string | null;
  codes: Record<Codeset, number | null>;
}

export function describeKey(linux: number): KeyDescription {
  const codes = Object.fromEntries(CODESETS.map((c) => [c, tryFromLinux(c, linux) ?? null])) as Record<Codeset, number | null>;
  return { linux, name: linuxName(linux) ?? null, qcode: qcodeOf(linux) ?? null, codes };
}
