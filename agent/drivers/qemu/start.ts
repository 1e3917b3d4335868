/**
 * Bringing one guest up: argv from the pure builder, spawn, QMP "ready", vCPU threads,
 * balloon polling, `cont`, status file. All-or-nothing: on any failure the process is
 * killed and its socket, status file and private directory are removed.
 */
import { closeSync, fchownSync, constants as fsc, openSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { DomainDef } from "../../model/domain-def.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import { channelSocketPath } from "./command-devices.js";
import { buildCommand, type LaunchContext, type QemuCaps } from "./command.js";
import { permissionHint, type QemuCredentials } from "./credentials.js";
import { ensureNvram, isAgentStore } from "./firmware.js";
import { liveGraphics, pickGraphicsPorts } from "./graphics.js";
import { closeServer, killQuietly, launchQemu, listeningFd, listenUnix, MONITOR_FD, type QemuProcess } from "./process.js";
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
  /** Run QEMU as this unprivileged user (hypervisor.qemu_user). */
  credentials?: QemuCredentials;
  /** The agent's own directory of UEFI variable stores: those are handed to QEMU opened. */
  nvramDir?: string;
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
  // Before the fds: nothing to close if it fails. A store outside the agent's nvram directory
  // is opened by QEMU itself, so a copy made for an unprivileged QEMU is made its own.
  const nvram = p.def.os.loader === undefined ? undefined : p.def.os.nvram?.path;
  const agentStore = nvram !== undefined && p.nvramDir !== undefined && isAgentStore(p.nvramDir, nvram) ? nvram : undefined;
  await ensureNvram(p.def, nvram !== undefined && agentStore === undefined ? p.credentials : undefined);
  const fds = await prepareFds(p, dir, agentStore);
  let proc: QemuProcess | undefined;
  try {
    const cmd = buildCommand(p.def, p.caps, fds.ctx);
    proc = await launchQemu({ binary: cmd.binary, argv: cmd.argv, monitorPath: monitorPath(p.runDir, p.def.uuid), logPath: p.logPath, extraFds: fds.extra, qmpTimeoutMs: p.qmpTimeoutMs, credentials: p.credentials, log: p.log });
    fds.close();
    p.onLaunched?.(proc);
    const live = withTaps(await liveGraphics(p.def, proc.qmp, fds.ctx.graphicsPorts ?? {}), fds.tapNames);
    const status = await bringUp({ ...p, def: live }, proc, fds.tapNames);
    return { proc, status };
  } catch (err) {
    fds.close();
    await cleanupFailedStart(p, proc);
    throw toStartError(err, p.def.name, p.credentials);
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

/**
 * Child fd layout: 3 monitor, then taps, the graphics secret, the UEFI variable store (when
 * it is in the agent's nvram directory) and the listening sockets of channels without a
 * path of their own. What the agent manages goes in as fds, so an unprivileged QEMU never
 * needs the agent's directories; paths the domain XML names are opened by QEMU itself, with
 * its own rights. On failure everything opened so far is closed again.
 */
async function prepareFds(p: StartParams, dir: string, agentStore: string | undefined): Promise<PreparedFds> {
  const graphicsPorts = await pickGraphicsPorts(p.def);
  const extra: number[] = [];
  const closers: (() => void)[] = [];
  const close = (): void => {
    for (const c of closers.splice(0)) c();
  };
  /** Hands `fd` to QEMU; returns its number inside the child. */
  const pass = (fd: number): number => MONITOR_FD + extra.push(fd);
  const ctx: LaunchContext = { monitorFd: MONITOR_FD, runDir: dir, tapFds: {}, graphicsPorts };
  let tapNames: string[] = [];
  try {
    if (p.def.devices.interfaces.length > 0) {
      if (!p.openTaps) throw new AgentError("no_support", `domain "${p.def.name}" has network interfaces but no network driver is configured`, { component: "qemu" });
      const taps = await p.openTaps(p.def);
      closers.push(() => taps.close());
      tapNames = taps.names;
      for (const [idx, fd] of Object.entries(taps.fds)) ctx.tapFds[Number(idx)] = pass(fd);
    }
    const passwd = p.def.devices.graphics.find((g) => g.passwd !== undefined)?.passwd;
    if (passwd !== undefined) {
      // The password reaches QEMU through an inherited fd of an unlinked 0600 file: never argv.
      // QEMU reopens it as /dev/fd/N, which checks the file's owner: an unprivileged QEMU's own.
      const path = join(dir, "graphics.secret");
      writeFileSync(path, passwd, { mode: 0o600 });
      const fd = openSync(path, "r");
      closers.push(() => closeSync(fd));
      if (p.credentials) fchownSync(fd, p.credentials.uid, p.credentials.gid);
      await rm(path, { force: true });
      ctx.graphicsSecretFd = pass(fd);
    }
    if (agentStore !== undefined) {
      const fd = openSync(agentStore, fsc.O_RDWR | fsc.O_NOFOLLOW);
      closers.push(() => closeSync(fd));
      ctx.nvramFd = pass(fd);
    }
    for (const [i, ch] of p.def.devices.channels.entries()) {
      if (ch.type !== "unix" || ch.path !== undefined) continue;
      const server = await listenUnix(channelSocketPath(dir, ch.targetName));
      closers.push(() => closeServer(server));
      (ctx.channelFds ??= {})[i] = pass(listeningFd(server));
    }
  } catch (err) {
    close();
    throw err;
  }
  return { ctx, extra, tapNames, close };
}

/** The live definition names each interface's tap, as libvirt's live XML does (`<target dev='vnet0'/>`). */
function withTaps(def: DomainDef, taps: readonly string[]): DomainDef {
  if (taps.length === 0) return def;
  const interfaces = def.devices.interfaces.map((n, i) => {
    const dev = taps[i];
    return dev === undefined ? n : { ...n, target: { dev, managed: n.target?.managed ?? true } };
  });
  return { ...def, devices: { ...def.devices, interfaces } };
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

function toStartError(err: unknown, name: string, cred: QemuCredentials | undefined): AgentError {
  const e = toAgentError(err, "qemu");
  if (e.code === "no_support" || e.code === "config_unsupported" || e.code === "invalid_arg") return e;
  const code = e.code === "operation_timeout" ? "operation_timeout" : "operation_failed";
  const hint = permissionHint(cred, e.message);
  return new AgentError(code, `cannot start domain "${name}": ${e.message}${hint ? ` (${hint})` : ""}`, { component: "qemu", cause: e });
}
