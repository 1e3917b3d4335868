/**
 * `<os firmware>`, `<os/loader>` and `<os/nvram>` parse and format (pure), for UEFI guests.
 * A loader and nvram left out are filled in by the QEMU driver at define, from QEMU's
 * firmware descriptors (agent/drivers/qemu/firmware.ts), as libvirt does.
 */
import type { OsDef } from "./domain-def.js";
import { AgentError } from "./errors.js";
import type { XEl } from "./xml-reader.js";
import { el } from "./xml-writer.js";

function unsupported(message: string): AgentError {
  return new AgentError("config_unsupported", message, { component: "conf" });
}

function parseLoader(os: XEl, def: OsDef): void {
  const l = os.child("loader");
  if (l === undefined) return;
  // A writable single flash (code and variables in one file) is not supported: readonly='yes' only.
  l.enumAttr("readonly", ["yes"] as const);
  l.enumAttr("type", ["pflash"] as const);
  def.loader = { path: l.text(), readonly: true, type: "pflash" };
  if (l.node.attrs.secure !== undefined) def.loader.secure = l.boolAttr("secure", false);
  l.finish();
}

function parseNvram(os: XEl, def: OsDef): void {
  const n = os.child("nvram");
  if (n === undefined) return;
  def.nvram = { path: n.text() };
  const template = n.attr("template");
  if (template !== undefined) def.nvram.template = template;
  n.finish();
}

/** Reads the firmware parts of `<os>` into `def`. @throws AgentError config_unsupported, xml_error. */
export function parseFirmware(os: XEl, def: OsDef): void {
  const fw = os.optEnumAttr("firmware", ["efi"] as const);
  if (fw !== undefined) def.firmware = fw;
  parseLoader(os, def);
  parseNvram(os, def);
  if (def.nvram !== undefined && def.loader === undefined && fw === undefined) {
    throw unsupported("unsupported <os/nvram> without a UEFI <loader> or firmware='efi'");
  }
}

/** `<loader>` and `<nvram>` lines, in libvirt's order (after `<type>`). */
export function formatFirmware(os: OsDef): string[] {
  const l = os.loader;
  const secure = l?.secure === undefined ? undefined : l.secure ? "yes" : "no";
  return [
    ...(l !== undefined ? el("loader", [["readonly", "yes"], ["secure", secure], ["type", l.type]], l.path) : []),
    ...(os.nvram !== undefined ? el("nvram", [["template", os.nvram.template]], os.nvram.path) : []),
  ];
}
