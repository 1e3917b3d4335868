/**
 * The status file of a running guest, <runDir>/qemu/<uuid>.status.json: everything a
 * restarted agent needs to re-adopt the QEMU without restarting it (DESIGN §2). Written
 * atomically on every state change; removed when the guest stops.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { removeFileDurable, writeFileAtomic } from "../../core/atomic-file.js";
import type { DomainDef } from "../../model/domain-def.js";
import { DOMAIN_STATES, type DomainState } from "../../model/state.js";
import { isCanonicalUuid } from "../../model/uuid.js";

export const STATUS_VERSION = 1;

export interface GuestStatus {
  v: typeof STATUS_VERSION;
  uuid: string;
  name: string;
  pid: number;
  /** /proc/PID/stat field 22: pid reuse cannot fool the re-adoption check. */
  startTime: number;
  monitorPath: string;
  taps: string[];
  vcpuThreads: number[];
  state: DomainState;
  reason: string;
  /** libvirt-style runtime id, kept across agent restarts. */
  id: number;
  /** Wall-clock ms of the spawn. */
  startedAt: number;
  /** Whether the definition stays when the guest stops (false: transient). */
  persistent: boolean;
  /** Attached, not started by the agent (domain.attach): stays tainted across re-adoption. */
  tainted?: boolean;
  /** The live definition the process was started from. */
  def: DomainDef;
}

export function statusDir(runDir: string): string {
  return join(runDir, "qemu");
}

export function statusPath(runDir: string, uuid: string): string {
  return join(statusDir(runDir), `${uuid}.status.json`);
}

export function monitorPath(runDir: string, uuid: string): string {
  return join(statusDir(runDir), `${uuid}.qmp`);
}

export async function writeStatus(runDir: string, st: GuestStatus): Promise<void> {
  await writeFileAtomic(statusPath(runDir, st.uuid), `${JSON.stringify(st, null, 1)}\n`, { mode: 0o600 });
}

export async function removeStatus(runDir: string, uuid: string): Promise<void> {
  await removeFileDurable(statusPath(runDir, uuid));
}

export interface StatusScan {
  valid: GuestStatus[];
  /** Unreadable or malformed files (the caller logs and removes them). */
  invalid: string[];
}

/** Reads every status file under <runDir>/qemu. */
export async function scanStatus(runDir: string): Promise<StatusScan> {
  const out: StatusScan = { valid: [], invalid: [] };
  let names: string[];
  try {
    names = await readdir(statusDir(runDir));
  } catch {
    return out;
  }
  for (const n of names.filter((x) => x.endsWith(".status.json"))) {
    const path = join(statusDir(runDir), n);
    const st = parseStatus(await readFile(path, "utf8").catch(() => ""));
    if (st && `${st.uuid}.status.json` === n) out.valid.push(st);
    else out.invalid.push(path);
  }
  return out;
}

/** Validates the shape of a status file; undefined when it is not one we wrote. */
export function parseStatus(text: string): GuestStatus | undefined {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  const s = o as Partial<GuestStatus>;
  const ints = [s.pid, s.startTime, s.id, s.startedAt].every((x) => Number.isSafeInteger(x) && (x as number) > 0);
  const strs = [s.uuid, s.name, s.monitorPath, s.reason].every((x) => typeof x === "string" && x.length > 0);
  const ok = s.v === STATUS_VERSION && ints && strs && isCanonicalUuid(s.uuid as string) && DOMAIN_STATES.includes(s.state as DomainState);
  if (!ok || !Array.isArray(s.taps) || !Array.isArray(s.vcpuThreads) || typeof s.def !== "object" || s.def === null) return undefined;
  return { ...(s as GuestStatus), persistent: s.persistent !== false };
}
