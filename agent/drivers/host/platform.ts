/**
 * Host identity and platform facts: uuid, power management, IOMMU, security models.
 */
import { createHmac } from "node:crypto";
import { AgentError } from "../../model/errors.js";
import type { PmTarget, SecModel } from "../../model/capabilities.js";
import { listDir, readText } from "./sysfs.js";

/**
 * virtbus's application id for deriving the host uuid from /etc/machine-id. machine-id is
 * confidential (machine-id(5)): it is never shown, only an HMAC of it, the way systemd's
 * sd_id128_get_machine_app_specific() does it.
 */
const APP_ID = Buffer.from("416e2d6057914d4c8546904c2a83c6eb", "hex");

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function toUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** HMAC-SHA256(key = machine id, message = APP_ID), first 16 bytes, marked as a v4 UUID. */
export function uuidFromMachineId(machineId: string): string {
  const key = Buffer.from(machineId, "hex");
  const h = createHmac("sha256", key).update(APP_ID).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return toUuid(h.toString("hex"));
}

/** Firmware placeholders that many boards ship instead of a real SMBIOS uuid. */
function isPlaceholder(uuid: string): boolean {
  const hex = uuid.replace(/-/g, "");
  return /^0+$/.test(hex) || /^f+$/.test(hex) || hex === "03000200040005000006000700080009";
}

/**
 * The host uuid: SMBIOS product_uuid (as libvirt does; readable by root only) when it is a
 * real one, else derived from /etc/machine-id.
 * @throws AgentError operation_failed when neither exists.
 */
export async function readHostUuid(root: string): Promise<string> {
  const dmi = (await readText(root, "sys/class/dmi/id/product_uuid"))?.toLowerCase();
  if (dmi !== undefined && UUID_RE.test(dmi) && !isPlaceholder(dmi)) return dmi;
  const machineId = (await readText(root, "etc/machine-id"))?.toLowerCase();
  if (machineId !== undefined && /^[0-9a-f]{32}$/.test(machineId)) return uuidFromMachineId(machineId);
  throw new AgentError("operation_failed", "cannot determine the host uuid: no SMBIOS product_uuid and no valid /etc/machine-id", { component: "core" });
}

/** Words of a sysfs choice file ("s2idle [deep]" → ["s2idle", "deep"]). */
export function parseChoices(text: string | undefined): string[] {
  return (text ?? "").split(/\s+/).map((w) => w.replace(/^\[(.*)\]$/, "$1")).filter((w) => w !== "");
}

/**
 * Suspend targets from /sys/power/state: `mem` → suspend_mem, `disk` → suspend_disk, and
 * suspend_hybrid when both exist and /sys/power/disk offers the `suspend` mode (suspend to
 * RAM after writing the hibernation image, which is what hybrid means).
 */
export async function readPowerManagement(root: string): Promise<{ targets: PmTarget[]; memSleep: string[] }> {
  const [state, disk, memSleep] = await Promise.all([
    readText(root, "sys/power/state"),
    readText(root, "sys/power/disk"),
    readText(root, "sys/power/mem_sleep"),
  ]);
  const states = new Set(parseChoices(state));
  const targets: PmTarget[] = [];
  if (states.has("mem")) targets.push("suspend_mem");
  if (states.has("disk")) targets.push("suspend_disk");
  if (states.has("mem") && states.has("disk") && parseChoices(disk).includes("suspend")) targets.push("suspend_hybrid");
  return { targets, memSleep: parseChoices(memSleep) };
}

/** An IOMMU is usable when the kernel registered one (class/iommu) or built any IOMMU group. */
export async function readIommu(root: string): Promise<boolean> {
  const [groups, units] = await Promise.all([listDir(root, "sys/kernel/iommu_groups"), listDir(root, "sys/class/iommu")]);
  return groups.length > 0 || units.length > 0;
}

/**
 * Security models: `none` (virtbus does not label guests itself yet), then each LSM that
 * is enabled: AppArmor (module parameter `enabled` = Y) and SELinux (selinuxfs mounted).
 */
export async function readSecModels(root: string): Promise<SecModel[]> {
  const [apparmor, selinux] = await Promise.all([
    readText(root, "sys/module/apparmor/parameters/enabled"),
    readText(root, "sys/fs/selinux/enforce"),
  ]);
  const models: SecModel[] = [{ model: "none", doi: "0" }];
  if (apparmor === "Y") models.push({ model: "apparmor", doi: "0" });
  if (selinux !== undefined) models.push({ model: "selinux", doi: "0" });
  return models;
}
