/**
 * Tiny pretty-printing XML writer in libvirt's output style (pure): two-space indent,
 * single-quoted attributes, empty elements self-closed. Everything is escaped here, once.
 */

export type AttrValue = string | number | undefined;
export type Attrs = ReadonlyArray<readonly [string, AttrValue]>;

/** Escapes text content and attribute values (both quote kinds, so either quoting works). */
export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", "'": "apos", '"': "quot" }[c]};`);
}

function openTag(name: string, attrs: Attrs): string {
  const parts = attrs.filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}='${escapeXml(String(v))}'`);
  return `<${name}${parts.join("")}`;
}

/**
 * One element as lines. `body` is escaped text, a list of child lines (indented here) or
 * nothing (self-closed). Child lists with no lines also self-close.
 */
export function el(name: string, attrs: Attrs = [], body?: string | string[]): string[] {
  const open = openTag(name, attrs);
  if (typeof body === "string") return [`${open}>${escapeXml(body)}</${name}>`];
  if (body === undefined || body.length === 0) return [`${open}/>`];
  return [`${open}>`, ...body.map((l) => (l === "" ? l : `  ${l}`)), `</${name}>`];
}

/**
 * An element holding pre-serialised XML (as `dedentXml` left it): emitted verbatim except
 * that every line gets the element's indentation.
 */
export function rawEl(name: string, raw: string): string[] {
  return raw === "" ? [`<${name}/>`] : [`<${name}>`, ...raw.split("\n").map((l) => (l === "" ? l : `  ${l}`)), `</${name}>`];
}
