/**
 * Keyboard layouts for domain.type_text: which keys (modifier + key, as Linux codes) type
 * each character. Layouts are data (keymap-layout-*.ts); none of libvirt, QEMU or virsh
 * has this, so the names are ours (`us`).
 */
import { AgentError } from "./errors.js";
import { keyToLinux } from "./keycodes.js";
import { LAYOUT_US } from "./keymap-layout-us.js";

export const LAYOUTS = ["us"] as const;
export type LayoutName = (typeof LAYOUTS)[number];

/** Longest text type_text accepts, in characters (code points). */
export const MAX_TEXT_LENGTH = 4096;

const KEY_LEFTSHIFT = 42;

/** One chord: keys pressed in order and released in reverse (QMP send-key semantics). */
export type Chord = readonly number[];

type LayoutTable = ReadonlyMap<string, Chord>;

function buildLayout(rows: ReadonlyArray<readonly [string, string, string]>): LayoutTable {
  const m = new Map<string, Chord>();
  for (const [name, plain, shifted] of rows) {
    const linux = keyToLinux("linux", name);
    if (plain !== "") m.set(plain, [linux]);
    if (shifted !== "") m.set(shifted, [KEY_LEFTSHIFT, linux]);
  }
  return m;
}

const TABLES: Readonly<Record<LayoutName, LayoutTable>> = { us: buildLayout(LAYOUT_US) };

export function parseLayout(name: string): LayoutName {
  if (!(LAYOUTS as readonly string[]).includes(name)) {
    throw new AgentError("invalid_arg", `unknown keyboard layout "${name}" (have: ${LAYOUTS.join(", ")})`, { component: "conf" });
  }
  return name as LayoutName;
}

/** How a character is shown in an error: printable as itself, else its U+ code. */
function showChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return cp < 0x20 || cp === 0x7f ? code : `"${ch}" (${code})`;
}

/**
 * The chords that type `text` in `layout`. Throws invalid_arg for an empty or too long
 * text, or naming every character the layout cannot type (each once), before anything
 * is sent.
 */
export function planText(layout: LayoutName, text: string): Chord[] {
  const chars = [...text];
  if (chars.length === 0 || chars.length > MAX_TEXT_LENGTH) {
    throw new AgentError("invalid_arg", `text must be 1..${MAX_TEXT_LENGTH} characters, got ${chars.length}`, { component: "conf" });
  }
  const table = TABLES[layout];
  const missing = [...new Set(chars.filter((c) => !table.has(c)))];
  if (missing.length > 0) {
    throw new AgentError("invalid_arg", `layout ${layout} cannot type ${missing.map(showChar).join(", ")}`, {
      component: "conf",
      details: { layout, characters: missing },
    });
  }
  return chars.map((c) => table.get(c)!);
}
