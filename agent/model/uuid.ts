/**
 * UUID syntax helpers (pure). libvirt accepts a UUID in upper or lower case, with or
 * without the dashes, and always prints the canonical lower-case 8-4-4-4-12 form; so do we.
 */

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True when `s` is already the canonical lower-case 8-4-4-4-12 form. */
export function isCanonicalUuid(s: string): boolean {
  return CANONICAL.test(s);
}

/**
 * The canonical form of a UUID written the ways libvirt accepts (any case, dashes
 * optional), or undefined when `s` is not a UUID.
 */
export function canonicalUuid(s: string): string | undefined {
  const hex = s.trim().replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  // Dashes are optional, but only at the canonical positions or nowhere at all.
  const stripped = s.trim().toLowerCase();
  const dashed = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  if (stripped !== hex && stripped !== dashed) return undefined;
  return dashed;
}

/** The 16 octets of a canonical UUID (SNMP indexes use them raw). */
export function uuidToBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "");
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The canonical UUID string of 16 octets. */
export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
