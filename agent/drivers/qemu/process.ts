/**
 * QEMU process supervision: spawn with an inherited, already-listening QMP socket, wait
 * for "ready" (the first QMP command reply, DESIGN §3), re-adopt a process started by an
 * earlier agent, detect exit, terminate. Never a shell: argv arrays only.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { open, readFile, rename, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { AgentError } from "../../model/errors.js";
import { confinedCommand, type QemuCredentials } from "./credentials.js";
import { QmpClient } from "./qmp.js";

/** fd number of the QMP listening socket inside QEMU; extra fds follow from 4. */
export const MONITOR_FD = 3;

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface QemuProcess {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot): with pid, identifies the process. */
  startTime: number;
  qmp: QmpClient;
  /** True when this agent spawned it (exit seen via waitpid), false when re-adopted. */
  child: boolean;
  /** Settles once the process is gone. */
  exited: Promise<ExitInfo>;
}

export interface LaunchOptions {
  binary: string;
  argv: string[];
  monitorPath: string;
  logPath: string;
  /** fds handed to QEMU as 4, 5, … (taps, secrets). The caller keeps ownership. */
  extraFds?: number[];
  qmpTimeoutMs: number;
  /** Run QEMU as this unprivileged user (credentials.ts); absent: as the agent's own user. */
  credentials?: QemuCredentials;
  log?: Logger;
}

/**
 * Spawns QEMU detached (own process group: it survives an agent restart) and waits for it
 * to answer QMP. On any failure the process is killed and the socket removed.
 * @throws AgentError operation_failed with the tail of QEMU's stderr, or operation_timeout.
 */
export async function launchQemu(o: LaunchOptions): Promise<QemuProcess> {
  const server = await listenUnix(o.monitorPath);
  const cmd = o.credentials ? confinedCommand(o.credentials, o.binary, o.argv) : { binary: o.binary, argv: o.argv };
  const logFd = openLog(o.logPath, cmd.binary, cmd.argv);
  let pid: number | undefined;
  try {
    const cp = spawn(cmd.binary, cmd.argv, {
      detached: true,
      stdio: ["ignore", logFd, logFd, listeningFd(server), ...(o.extraFds ?? [])],
      env: { LC_ALL: "C", PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    const spawned = new Promise<void>((resolve, reject) => {
      cp.once("spawn", resolve);
      cp.once("error", reject);
    });
    const exited = new Promise<ExitInfo>((resolve) => cp.once("exit", (code, signal) => resolve({ code, signal })));
    await spawned.finally(() => closeServer(server));
    pid = cp.pid as number;
    cp.unref();
    return await connectReady(o, pid, exited);
  } catch (err) {
    if (pid !== undefined) killQuietly(pid, "SIGKILL");
    await rm(o.monitorPath, { force: true });
    throw await withStderr(err, o.logPath);
  } finally {
    closeSync(logFd);
    closeServer(server);
  }
}

async function connectReady(o: LaunchOptions, pid: number, exited: Promise<ExitInfo>): Promise<QemuProcess> {
  const died = exited.then((e) => {
    throw new AgentError("operation_failed", `QEMU exited during start (${describeExit(e)})`, { component: "qemu" });
  });
  died.catch(() => undefined);
  const qmp = await Promise.race([QmpClient.connect(o.monitorPath, { timeoutMs: o.qmpTimeoutMs, log: o.log }), died]);
  const startTime = await readStartTime(pid);
  if (startTime === undefined) {
    qmp.close();
    throw new AgentError("operation_failed", `QEMU pid ${pid} vanished during start`, { component: "qemu" });
  }
  return { pid, startTime, qmp, child: true, exited };
}

/**
 * Re-attaches to a QEMU started earlier (possibly by a previous agent). Returns undefined
 * when that process no longer exists (pid gone or reused: start time differs).
 * @throws AgentError when the process lives but its QMP socket does not answer.
 */
export async function adoptQemu(o: { pid: number; startTime: number; monitorPath: string; qmpTimeoutMs: number; log?: Logger }): Promise<QemuProcess | undefined> {
  if (!(await isSameProcess(o.pid, o.startTime))) return undefined;
  const qmp = await QmpClient.connect(o.monitorPath, { timeoutMs: o.qmpTimeoutMs, log: o.log });
  // Not our child: no waitpid. QMP EOF is the fast signal; /proc then confirms the exit.
  const exited = new Promise<ExitInfo>((resolve) => {
    qmp.onClose(() => {
      // A detach (our close()) says nothing about the process: only EOF from QEMU's side does.
      if (qmp.closedLocally) return;
      void waitGone(o.pid, o.startTime).then(() => resolve({ code: null, signal: null }));
    });
  });
  return { pid: o.pid, startTime: o.startTime, qmp, child: false, exited };
}

/** Field 22 (starttime) of /proc/PID/stat; undefined when the pid is gone or a zombie. */
export async function readStartTime(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields restart after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return undefined;
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : undefined;
}

export async function isSameProcess(pid: number, startTime: number): Promise<boolean> {
  return (await readStartTime(pid)) === startTime;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function terminateQemu(p: QemuProcess, graceMs = 3000): Promise<ExitInfo> {
  killQuietly(p.pid, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const hard = new Promise<void>((resolve) => {
    timer = setTimeout(() => (killQuietly(p.pid, "SIGKILL"), resolve()), graceMs);
  });
  const info = await Promise.race([p.exited, hard.then(() => p.exited)]);
  clearTimeout(timer);
  return info;
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function waitGone(pid: number, startTime: number): Promise<void> {
  while (await isSameProcess(pid, startTime)) await new Promise((r) => setTimeout(r, 50).unref());
}

/**
 * Listens on a temp name and renames it into place: the final path never refers to a
 * socket nobody listens on, and libuv's unlink-on-close hits the (gone) temp name, not
 * the path QEMU now serves.
 */
export async function listenUnix(path: string): Promise<Server> {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp.qmp`);
  await rm(path, { force: true });
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ path: tmp, backlog: 4 }, resolve);
  });
  await rename(tmp, path);
  return server;
}

/**
 * Drops the agent's copy of the listening socket. It must go before we connect: while
 * Node still listens, it would accept our own connection instead of QEMU.
 */
export function closeServer(server: Server): void {
  if (server.listening) server.close();
}

/** The listening fd, to hand to QEMU as `-chardev socket,fd=3,server=on`. */
export function listeningFd(server: Server): number {
  // Node has no public accessor for a server's fd; the pipe handle carries it on Unix.
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new AgentError("internal", "cannot get a listening socket's fd", { component: "qemu" });
  return fd;
}

/** Opens the per-domain log for append and writes a header like libvirt's qemu log. */
function openLog(path: string, binary: string, argv: string[]): number {
  const fd = openSync(path, "a", 0o600);
  writeSync(fd, `${new Date().toISOString()}: starting ${[binary, ...argv].join(" ")}\n`);
  return fd;
}

async function withStderr(err: unknown, logPath: string): Promise<AgentError> {
  const tail = await readTail(logPath, 1500);
  const base = err instanceof AgentError ? err : new AgentError("operation_failed", (err as Error).message, { component: "qemu", cause: err });
  const code = base.code === "operation_timeout" ? "operation_timeout" : "operation_failed";
  const msg = tail ? `${base.message}; QEMU said: ${tail}` : base.message;
  return new AgentError(code, msg, { component: "qemu", cause: base });
}

/** The last lines QEMU wrote after our last "starting" header. */
export async function readTail(path: string, maxBytes: number): Promise<string> {
  try {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, maxBytes * 4);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      const text = buf.toString("utf8");
      const after = text.slice(text.lastIndexOf(": starting ") + 1);
      const lines = after.split("\n").slice(1).join("\n").trim();
      return lines.slice(-maxBytes);
    } finally {
      await fh.close();
    }
  } catch {
    return "";
  }
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code ?? "unknown"}`;
}
