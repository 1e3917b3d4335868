/**
 * Safe, strict XML reading for libvirt-style documents (pure).
 *
 * `readXml` turns text into a small element tree with fast-xml-parser, after the checks
 * libvirt-compatible input needs: a size cap, no DOCTYPE (so no entity expansion at all),
 * one root element, only the five predefined entities and character references.
 * `XEl` walks that tree and remembers which attributes and children a parser used, so
 * `finish()` can reject everything outside the supported subset by its element path.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { AgentError } from "./errors.js";

export const MAX_XML_BYTES = 1024 * 1024;

export interface XNode {
  name: string;
  attrs: Record<string, string>;
  children: XNode[];
  text: string;
  /** Path from below the root, e.g. "devices/disk/target"; the root's own path is its name. */
  path: string;
}

type FxpItem = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Entities are decoded by decodeEntities below: only XML's own five and char refs.
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: "#cdata",
});

function xmlError(message: string, details?: Record<string, unknown>): AgentError {
  return new AgentError("xml_error", message, { component: "conf", ...(details ? { details } : {}) });
}

const PREDEFINED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Decodes the predefined entities and character references; anything else is an error. */
export function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(";")) throw xmlError(`malformed XML: bare '&' in '${s.slice(0, 40)}'`);
    const named = PREDEFINED[ref];
    if (named !== undefined) return named;
    const m = /^#(x[0-9a-fA-F]{1,6}|[0-9]{1,7})$/.exec(ref);
    const cp = m ? (ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10)) : -1;
    const legal = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff));
    if (!legal) throw xmlError(`malformed XML: undefined or invalid entity reference '&${ref};'`);
    return String.fromCodePoint(cp);
  });
}

function checkPrologue(xml: string): void {
  const bytes = xml.length > MAX_XML_BYTES ? xml.length : new TextEncoder().encode(xml).length;
  if (bytes > MAX_XML_BYTES) throw xmlError(`XML document too large: ${bytes} bytes (max ${MAX_XML_BYTES})`);
  // A DOCTYPE is the only way to declare entities; refusing it removes expansion attacks.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw xmlError("malformed XML: DOCTYPE and entity declarations are not allowed");
  const v = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (v !== true) {
    const { msg, line, col } = v.err;
    throw xmlError(`malformed XML at line ${line}, column ${col}: ${msg}`, { line, column: col });
  }
}

function toNode(name: string, item: FxpItem, parentPath: string | undefined): XNode {
  const path = parentPath === undefined ? "" : parentPath === "" ? name : `${parentPath}/${name}`;
  const node: XNode = { name, attrs: {}, children: [], text: "", path: path === "" ? name : path };
  const rawAttrs = (item[":@"] ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(rawAttrs)) node.attrs[k] = decodeEntities(String(v));
  const texts: string[] = [];
  for (const child of item[name] as FxpItem[]) {
    if ("#text" in child) texts.push(decodeEntities(String(child["#text"])));
    else if ("#cdata" in child) texts.push((child["#cdata"] as FxpItem[]).map((t) => String(t["#text"] ?? "")).join(""));
    else {
      const childName = Object.keys(child).find((k) => k !== ":@") as string;
      node.children.push(toNode(childName, child, path));
    }
  }
  node.text = texts.join("");
  return node;
}

/**
 * Parses `xml` into a tree rooted at the single element named `rootName`.
 * @throws AgentError xml_error for oversize, DOCTYPE, malformed XML (with line and column),
 * undefined entities, several roots or a wrong root element.
 */
export function readXml(xml: string, rootName: string): XNode {
  checkPrologue(xml);
  let items: FxpItem[];
  try {
    items = parser.parse(xml) as FxpItem[];
  } catch (e) {
    throw new AgentError("xml_error", `malformed XML: ${(e as Error).message}`, { component: "conf", cause: e });
  }
  const roots = items.filter((i) => !("#text" in i));
  if (roots.length !== 1) throw xmlError(`malformed XML: expected exactly one root element, found ${roots.length}`);
  const root = roots[0] as FxpItem;
  const name = Object.keys(root).find((k) => k !== ":@") as string;
  if (name !== rootName) throw xmlError(`unexpected root element <${name}>, expected <${rootName}>`);
  return toNode(name, root, undefined);
}

const TOKEN = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<(\/?)([^\s/>!?]+)(?:[^>"']|"[^"]*"|'[^']*')*?(\/?)>/g;

/**
 * The verbatim source text inside the first `<childName>` directly under the root, trimmed;
 * undefined when there is none. Call only on text `readXml` accepted.
 */
export function rawChildContent(xml: string, childName: string): string | undefined {
  let depth = 0;
  let start = -1;
  for (const m of xml.matchAll(TOKEN)) {
    const [whole, closing, name, selfClose] = m;
    if (name === undefined) continue;
    const end = (m.index ?? 0) + whole.length;
    if (closing === "/") {
      depth--;
      if (start >= 0 && depth === 1 && name === childName) return xml.slice(start, m.index).trim();
    } else if (selfClose === "/") {
      if (depth === 1 && name === childName && start < 0) return "";
    } else {
      if (depth === 1 && name === childName && start < 0) start = end;
      depth++;
    }
  }
  return undefined;
}

/**
 * Trims `raw` and removes the indentation its lines 2..n share, so that raw XML re-indented
 * by the writer reads back identical (blank lines become empty).
 */
export function dedentXml(raw: string): string {
  const lines = raw.trim().split(/\r?\n/).map((l) => (l.trim() === "" ? "" : l.trimEnd()));
  const rest = lines.slice(1).filter((l) => l !== "");
  const indent = Math.min(...rest.map((l) => l.length - l.trimStart().length));
  if (rest.length === 0 || indent === 0) return lines.join("\n");
  return [lines[0], ...lines.slice(1).map((l) => l.slice(indent))].join("\n");
}

function unsupported(message: string): AgentError {
  return new AgentError("config_unsupported", message, { component: "conf" });
}

/** A reading cursor over one element that tracks what was consumed. */
export class XEl {
  private readonly usedAttrs = new Set<string>();
  private readonly usedKids = new Set<XNode>();
  private textUsed = false;

  constructor(readonly node: XNode) {}

  get path(): string {
    return this.node.path;
  }

  /** Marks attributes as accepted without reading them (e.g. runtime-only attributes). */
  ignore(...names: string[]): void {
    for (const n of names) this.usedAttrs.add(n);
  }

  attr(name: string): string | undefined {
    this.usedAttrs.add(name);
    return this.node.attrs[name];
  }

  reqAttr(name: string): string {
    const v = this.attr(name);
    if (v === undefined) throw xmlError(`missing attribute '${name}' on <${this.path}>`);
    return v;
  }

  /** An attribute restricted to `values`; `dflt` when absent (missing is an error without one). */
  enumAttr<T extends string>(name: string, values: readonly T[], dflt?: T): T {
    const v = this.attr(name);
    if (v === undefined) {
      if (dflt === undefined) throw xmlError(`missing attribute '${name}' on <${this.path}>`);
      return dflt;
    }
    if (!(values as readonly string[]).includes(v)) {
      throw unsupported(`unsupported value '${v}' for attribute '${name}' of <${this.path}> (supported: ${values.join(", ")})`);
    }
    return v as T;
  }

  /** Like enumAttr, but undefined when absent. */
  optEnumAttr<T extends string>(name: string, values: readonly T[]): T | undefined {
    return this.node.attrs[name] === undefined ? (this.attr(name), undefined) : this.enumAttr(name, values);
  }

  /** libvirt's yes/no (and on/off) booleans. */
  boolAttr(name: string, dflt: boolean): boolean {
    const v = this.attr(name);
    if (v === undefined) return dflt;
    if (v === "yes" || v === "on") return true;
    if (v === "no" || v === "off") return false;
    throw xmlError(`invalid value '${v}' for attribute '${name}' of <${this.path}>: expected yes or no`);
  }

  /** An integer attribute in [min, max]; hex (0x...) is accepted when `hex` is set, as libvirt does for addresses. */
  intAttr(name: string, min: number, max: number, hex = false): number | undefined {
    const v = this.attr(name);
    if (v === undefined) return undefined;
    return parseIntIn(v, min, max, hex, `attribute '${name}' of <${this.path}>`);
  }

  reqIntAttr(name: string, min: number, max: number, hex = false): number {
    const n = this.intAttr(name, min, max, hex);
    if (n === undefined) throw xmlError(`missing attribute '${name}' on <${this.path}>`);
    return n;
  }

  text(): string {
    this.textUsed = true;
    return this.node.text;
  }

  /** The only child named `name`, if any; a repeated singleton is an xml_error. */
  child(name: string): XEl | undefined {
    const all = this.children(name);
    if (all.length > 1) throw xmlError(`element <${this.path}/${name}> may appear only once`);
    return all[0];
  }

  children(name: string): XEl[] {
    const kids = this.node.children.filter((c) => c.name === name);
    for (const k of kids) this.usedKids.add(k);
    return kids.map((k) => new XEl(k));
  }

  /** Text of the only child `name`, if present. */
  childText(name: string): string | undefined {
    const c = this.child(name);
    if (c === undefined) return undefined;
    const t = c.text();
    c.finish();
    return t;
  }

  /** Whether the empty marker child `name` (e.g. <readonly/>) is present. */
  flag(name: string): boolean {
    const c = this.child(name);
    c?.finish();
    return c !== undefined;
  }

  /** Rejects unconsumed attributes, children and text as config_unsupported. */
  finish(): void {
    const attr = Object.keys(this.node.attrs).find((a) => !this.usedAttrs.has(a));
    if (attr !== undefined) throw unsupported(`unsupported attribute '${attr}' on <${this.path}>`);
    const kid = this.node.children.find((c) => !this.usedKids.has(c));
    if (kid !== undefined) throw unsupported(`unsupported element <${kid.path}>`);
    if (!this.textUsed && this.node.text.trim() !== "") throw unsupported(`unexpected text in <${this.path}>`);
  }
}

/** Parses a decimal (or 0x-hex when allowed) integer and checks its range. */
export function parseIntIn(v: string, min: number, max: number, hex: boolean, where: string): number {
  const ok = /^-?\d+$/.test(v) || (hex && /^0x[0-9a-fA-F]+$/.test(v));
  const n = ok ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw xmlError(`invalid integer '${v}' in ${where}`);
  if (n < min || n > max) throw xmlError(`value ${v} out of range [${min}, ${max}] in ${where}`);
  return n;
}
