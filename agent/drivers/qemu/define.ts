/**
 * Define-time preparation of a parsed definition: semantic validation, then the values
 * fixed once so the guest ABI stays stable (canonical machine, PCI addresses, MACs), then
 * host checks (emulator and disk sources exist).
 */
import { constants as fsc } from "node:fs";
import { access, stat } from "node:fs/promises";
import type { DomainDef } from "../../model/domain-def.js";
import { validateDomainDef } from "../../model/domain-validate.js";
import { AgentError } from "../../model/errors.js";
import { assignAddresses, assignMacs } from "./address.js";
import { canonicalMachine, probeQemu } from "./caps.js";
import { loadDescriptors, resolveFirmware } from "./firmware.js";

/**
 * @throws AgentError invalid_arg (validation, missing emulator or disk), config_unsupported
 *   (machine type), operation_failed (the emulator cannot be probed).
 */
export async function prepareDefinition(def: DomainDef, defaultBinary: string, firmware: { dirs?: readonly string[]; nvramDir: string }): Promise<DomainDef> {
  validateDomainDef(def);
  const binary = def.devices.emulator ?? defaultBinary;
  await checkEmulator(binary);
  const caps = await probeQemu(binary);
  const machine = canonicalMachine(caps, def.os.machine);
  const withMachine: DomainDef = { ...def, os: { ...def.os, machine } };
  const needsDescriptors = def.os.firmware === "efi" || def.os.loader !== undefined;
  const withFirmware = needsDescriptors ? resolveFirmware(withMachine, await loadDescriptors(firmware.dirs), firmware.nvramDir, firmware.dirs) : withMachine;
  const prepared = assignMacs(assignAddresses(withFirmware, machine), Math.random);
  await checkDisks(prepared);
  return prepared;
}

async function checkEmulator(binary: string): Promise<void> {
  try {
    await access(binary, fsc.X_OK);
  } catch {
    throw new AgentError("invalid_arg", `emulator ${binary} not found or not executable`, { component: "qemu", details: { emulator: binary } });
  }
}

async function checkDisks(def: DomainDef): Promise<void> {
  for (const d of def.devices.disks) {
    if (d.source === undefined) {
      if (d.device === "cdrom") continue;
      throw new AgentError("invalid_arg", `disk ${d.target.dev} has no source`, { component: "qemu" });
    }
    const st = await stat(d.source).catch(() => undefined);
    const ok = st !== undefined && (d.type === "file" ? st.isFile() : st.isBlockDevice());
    if (!ok) {
      const kind = d.type === "file" ? "file" : "block device";
      throw new AgentError("invalid_arg", `disk ${d.target.dev}: source ${kind} ${d.source} not found`, { component: "qemu", details: { disk: d.target.dev, source: d.source } });
    }
  }
}
