/**
 * Pure helpers to put untrusted strings into QEMU's `key=value,key=value` option syntax.
 * QEMU's only escape is doubling a comma (util/qemu-option.c get_opt_value); nothing else
 * is special inside a value, so after rejecting control characters a doubled-comma value
 * cannot start a new key.
 */
import { AgentError } from "../../model/errors.js";

const CONTROL = /[\u0000-\u001f\u007f]/;

function reject(what: string, why: string): never {
  throw new AgentError("invalid_arg", `${what} ${why}`, { component: "qemu" });
}

/**
 * A string value for a QEMU option list, commas doubled.
 * @throws AgentError invalid_arg on control characters (newline, NUL, ...) or an empty value.
 */
export function optValue(value: string, what: string): string {
  if (value.length === 0) reject(what, "must not be empty");
  if (CONTROL.test(value)) reject(what, `contains a control character: ${JSON.stringify(value)}`);
  return value.replaceAll(",", ",,");
}

/**
 * An absolute path for a QEMU option list, commas doubled.
 * @throws AgentError invalid_arg on a relative path or control characters.
 */
export function optPath(path: string, what: string): string {
  if (!path.startsWith("/")) reject(what, `must be an absolute path, got ${JSON.stringify(path)}`);
  return optValue(path, what);
}

/**
 * A whole argv element that QEMU does not parse as an option list (-append, -kernel):
 * passed verbatim, only control characters are refused.
 * @throws AgentError invalid_arg on control characters.
 */
export function rawValue(value: string, what: string): string {
  if (CONTROL.test(value)) reject(what, `contains a control character: ${JSON.stringify(value)}`);
  return value;
}

/** An identifier-like value (device model names, channel names): letters, digits, `._-`. */
export function idValue(value: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) reject(what, `must match [A-Za-z0-9][A-Za-z0-9._-]*, got ${JSON.stringify(value)}`);
  return value;
}

/** `key=value` pairs joined with commas, skipping undefined values. Values must already be escaped. */
export function opts(head: string, pairs: Record<string, string | number | undefined>): string {
  const parts = [head];
  for (const [k, v] of Object.entries(pairs)) if (v !== undefined) parts.push(`${k}=${v}`);
  return parts.join(",");
}

export function hexSlot(slot: number): string {
  return `0x${slot.toString(16)}`;
}

export function onOff(b: boolean): "on" | "off" {
  return b ? "on" : "off";
}
