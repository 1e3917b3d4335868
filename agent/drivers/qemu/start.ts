/**
 * Bringing one guest up: argv from the pure builder, spawn, QMP "ready", vCPU threads,
 * balloon polling, `cont`, status file. All-or-nothing: on any failure the process is
 * killed and its socket, status file and private directory are removed.
 */
import { closeSync, openSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { DomainDef } from "../../model/domain-def.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import { buildCommand, type LaunchContext, type QemuCaps } from "./command.js";
import { ensureNvram } from "./firmware.js";
import { liveGraphics, pickGraphicsPorts } from "./graphics.js";
import { killQuietly, launchQemu, MONITOR_FD, type QemuProcess } from "./process.js";
import type { QmpClient } from "./qmp.js";
import { monitorPath, removeStatus, STATUS_VERSION, statusDir, writeStatus, type GuestStatus } from "./status.js";

/** Taps opened by the network side; fds are the agent's, handed to QEMU and then closed. */
export interface OpenedTaps {
  /** Agent-side fd per interface index. */
  fds: Record<number, number>;
  names: string[];
  close(): void;
}

export type TapOpener = (def: DomainDef) => Promise<OpenedTaps>;

export interface StartParams {
  def: DomainDef;
  caps: QemuCaps;
  runDir: string;
  logPath: string;
  qmpTimeoutMs: number;
  paused: boolean;
  id: number;
  persistent: boolean;
  openTaps?: TapOpener;
  /** Called as soon as QMP answers, before `cont`: lets the caller subscribe to events early. */
  onLaunched?: (proc: QemuProcess) => void;
  log: Logger;
}

export function privateDir(runDir: string, uuid: string): string {
  return join(statusDir(runDir), `${uuid}.d`);
}

/**
 * Starts the guest and returns the live process and the status written for it.
 * @throws AgentError operation_failed (QEMU refused, with its stderr), operation_timeout,
 *   no_support (interfaces without a tap opener).
 */
export async function spawnGuest(p: StartParams): Promise<{ proc: QemuProcess; status: GuestStatus }> {
  const dir = privateDir(p.runDir, p.def.uuid);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await ensureNvram(p.def); // before the fds: nothing to close if it fails
  const fds = await prepareFds(p, dir);
  let proc: QemuProcess | undefined;
  try {
    const cmd = buildCommand(p.def, p.caps, fds.ctx);
    proc = await launchQemu({ binary: cmd.binary, argv: cmd.argv, monitorPath: monitorPath(p.runDir, p.def.uuid), logPath: p.logPath, extraFds: fds.extra, qmpTimeoutMs: p.qmpTimeoutMs, log: p.log });
    fds.close();
    p.onLaunched?.(proc);
    const status = await bringUp({ ...p, def: await liveGraphics(p.def, proc.qmp, fds.ctx.graphicsPorts ?? {}) }, proc, fds.tapNames);
    return { proc, status };
  } catch (err) {
    fds.close();
    await cleanupFailedStart(p, proc);
    throw toStartError(err, p.def.name);
  }
}

async function bringUp(p: StartParams, proc: QemuProcess, taps: string[]): Promise<GuestStatus> {
  const vcpuThreads = await readVcpuThreads(proc.qmp);
  await setBalloonPeriod(proc.qmp, p.def);
  const status: GuestStatus = {
    v: STATUS_VERSION,
    uuid: p.def.uuid,
    name: p.def.name,
    pid: proc.pid,
    startTime: proc.startTime,
    monitorPath: monitorPath(p.runDir, p.def.uuid),
    taps,
    vcpuThreads,
    state: p.paused ? "paused" : "running",
    reason: p.paused ? "user" : "booted",
    id: p.id,
    startedAt: Date.now(),
    persistent: p.persistent,
    def: p.def,
  };
  // Written before `cont`: a crash of the agent from here on still finds the guest.
  await writeStatus(p.runDir, status);
  if (!p.paused) await proc.qmp.execute("cont");
  return status;
}

interface PreparedFds {
  ctx: LaunchContext;
  extra: number[];
  tapNames: string[];
  close(): void;
}

/** Child fd layout: 3 monitor, then taps, then the graphics secret. */
async function prepareFds(p: StartParams, dir: string): Promise<PreparedFds> {
  const graphicsPorts = await pickGraphicsPorts(p.def);
  const extra: number[] = [];
  const tapFds: Record<number, number> = {};
  let taps: OpenedTaps | undefined;
  if (p.def.devices.interfaces.length > 0) {
    if (!p.openTaps) throw new AgentError("no_support", `domain "${p.def.name}" has network interfaces but no network driver is configured`, { component: "qemu" });
    taps = await p.openTaps(p.def);
    for (const [idx, fd] of Object.entries(taps.fds)) {
      tapFds[Number(idx)] = MONITOR_FD + 1 + extra.length;
      extra.push(fd);
    }
  }
  const ctx: LaunchContext = { monitorFd: MONITOR_FD, runDir: dir, tapFds, graphicsPorts };
  let secretFd: number | undefined;
  const passwd = p.def.devices.graphics.find((g) => g.passwd !== undefined)?.passwd;
  if (passwd !== undefined) {
    // The password reaches QEMU through an inherited fd of an unlinked 0600 file: never argv.
    const path = join(dir, "graphics.secret");
    writeFileSync(path, passwd, { mode: 0o600 });
    secretFd = openSync(path, "r");
    await rm(path, { force: true });
    ctx.graphicsSecretFd = MONITOR_FD + 1 + extra.length;
    extra.push(secretFd);
  }
  const close = () => {
    taps?.close();
    if (secretFd !== undefined) closeSync(secretFd);
    taps = undefined;
    secretFd = undefined;
  };
  return { ctx, extra, tapNames: taps?.names ?? [], close };
}

async function readVcpuThreads(qmp: QmpClient): Promise<number[]> {
  const cpus = await qmp.execute<Array<{ "cpu-index": number; "thread-id": number }>>("query-cpus-fast");
  return [...cpus].sort((a, b) => a["cpu-index"] - b["cpu-index"]).map((c) => c["thread-id"]);
}

/** libvirt's <memballoon><stats period>: QEMU polls the guest only when told to. */
async function setBalloonPeriod(qmp: QmpClient, def: DomainDef): Promise<void> {
  const period = def.devices.memballoon?.statsPeriod;
  if (period === undefined || def.devices.memballoon?.model !== "virtio") return;
  const path = await findBalloonPath(qmp);
  if (!path) throw new AgentError("operation_failed", "memballoon stats period set but QEMU has no virtio-balloon device", { component: "qemu" });
  await qmp.execute("qom-set", { path, property: "guest-stats-polling-interval", value: period });
}

export async function findBalloonPath(qmp: QmpClient): Promise<string | undefined> {
  for (const base of ["/machine/peripheral", "/machine/peripheral-anon"]) {
    const items = await qmp.execute<Array<{ name: string; type: string }>>("qom-list", { path: base }).catch(() => []);
    const hit = items.find((i) => /^child<virtio-balloon/.test(i.type));
    if (hit) return `${base}/${hit.name}`;
  }
  return undefined;
}

async function cleanupFailedStart(p: StartParams, proc: QemuProcess | undefined): Promise<void> {
  if (proc) {
    proc.qmp.close();
    killQuietly(proc.pid, "SIGKILL");
    await proc.exited;
  }
  await removeStatus(p.runDir, p.def.uuid).catch(() => undefined);
  await rm(monitorPath(p.runDir, p.def.uuid), { force: true });
  await rm(privateDir(p.runDir, p.def.uuid), { recursive: true, force: true });
}

function toStartError(err: unknown, name: string): AgentError {
  const e = toAgentError(err, "qemu");
  if (e.code === "no_support" || e.code === "config_unsupported" || e.code === "invalid_arg") return e;
  const code = e.code === "operation_timeout" ? "operation_timeout" : "operation_failed";
  return new AgentError(code, `cannot start domain "${name}": ${e.message}`, { component: "qemu", cause: e });
}
