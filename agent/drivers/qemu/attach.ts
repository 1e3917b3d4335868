/**
 * The I/O half of attach: reads /proc/PID/{exe,cmdline,environ}, connects to the QEMU's
 * QMP socket and runs the queries the pure parts (attach-opts/def/storage/check) need.
 * Nothing here changes the QEMU: attach only reads until the driver takes the guest over.
 */
import { readFile, readlink } from "node:fs/promises";
import { basename } from "node:path";
import type { Logger } from "pino";
import type { DomainDef } from "../../model/domain-def.js";
import { validateDomainDef } from "../../model/domain-validate.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import type { DomainState } from "../../model/state.js";
import type { QmpFacts } from "./attach-check.js";
import { splitCmdline } from "./attach-opts.js";
import { finishPlan, planFromCmdline } from "./attach-plan.js";
import { adoptQemu, readStartTime, type QemuProcess } from "./process.js";
import type { QmpClient } from "./qmp.js";

export interface ProbeOptions {
  pid: number;
  name?: string;
  qmpTimeoutMs: number;
  newUuid: () => string;
  log?: Logger;
}

/** What the driver needs to take the guest over. */
export interface ForeignGuest {
  proc: QemuProcess;
  def: DomainDef;
  monitorPath: string;
  vcpuThreads: number[];
  taps: string[];
  state: DomainState;
  reason: string;
  /** Wall-clock ms the process started (from /proc start time and boot time). */
  startedAt: number;
  notes: string[];
}

/** What /proc says about a process. */
export interface ProcInfo {
  exe: string;
  argv: string[];
  /** Names (never values: they may be secrets) of QEMU_* environment variables. */
  qemuEnv: string[];
}

/**
 * @throws AgentError invalid_arg (no such process, not a QEMU), forbidden (cannot read it).
 */
export async function readProcInfo(pid: number): Promise<ProcInfo> {
  let exe: string;
  try {
    exe = await readlink(`/proc/${pid}/exe`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") throw new AgentError("invalid_arg", `no process with pid ${pid}`, { component: "qemu" });
    throw new AgentError("forbidden", `cannot inspect pid ${pid}: ${(err as Error).message} (attach needs the agent's privileges over the process)`, { component: "qemu", cause: err });
  }
  // A QEMU whose binary was upgraded underneath it shows "<path> (deleted)".
  exe = exe.replace(/ \(deleted\)$/, "");
  if (!/^qemu-system-[A-Za-z0-9_]+$/.test(basename(exe))) throw new AgentError("invalid_arg", `pid ${pid} is not a QEMU process (${basename(exe)})`, { component: "qemu" });
  const argv = splitCmdline(await readFile(`/proc/${pid}/cmdline`, "utf8"));
  const env = splitCmdline(await readFile(`/proc/${pid}/environ`, "utf8").catch(() => ""));
  const qemuEnv = env.map((kv) => kv.slice(0, Math.max(0, kv.indexOf("=")))).filter((k) => k.startsWith("QEMU_"));
  return { exe, argv, qemuEnv };
}

/**
 * Reads, connects and checks; on success the caller owns `proc` (its QMP connection).
 * @throws AgentError invalid_arg, operation_invalid, no_support (see pickMonitor),
 *   operation_timeout (the monitor socket is busy), operation_failed, config_unsupported.
 */
export async function probeForeignQemu(o: ProbeOptions): Promise<ForeignGuest> {
  const info = await readProcInfo(o.pid);
  const startTime = await readStartTime(o.pid);
  if (startTime === undefined) throw new AgentError("invalid_arg", `no process with pid ${o.pid}`, { component: "qemu" });
  const plan = planFromCmdline(o.pid, info.exe, info.argv, o.name);
  const cmd = plan.cmd;
  const monitor = plan.monitor;
  if (info.qemuEnv.length > 0) cmd.notes.push(`environment sets ${info.qemuEnv.join(", ")} (values not recorded)`);
  const proc = await connect(o, startTime, monitor.address);
  try {
    const checked = finishPlan(o.pid, plan, await queryFacts(proc.qmp), { nameGiven: o.name !== undefined, newUuid: o.newUuid });
    const def = checked.def;
    try {
      validateDomainDef(def);
    } catch (err) {
      throw new AgentError("config_unsupported", `pid ${o.pid}: the definition read from its command line is not usable: ${toAgentError(err).message}`, { component: "qemu", cause: err });
    }
    return { proc, def, startedAt: await processStartMs(startTime), monitorPath: monitor.address, vcpuThreads: checked.vcpuThreads, taps: cmd.taps, state: checked.state, reason: checked.reason, notes: checked.notes };
  } catch (err) {
    proc.qmp.close();
    throw err;
  }
}

async function connect(o: ProbeOptions, startTime: number, path: string): Promise<QemuProcess> {
  try {
    const proc = await adoptQemu({ pid: o.pid, startTime, monitorPath: path, qmpTimeoutMs: o.qmpTimeoutMs, log: o.log });
    if (!proc) throw new AgentError("invalid_arg", `pid ${o.pid} exited`, { component: "qemu" });
    return proc;
  } catch (err) {
    const e = toAgentError(err, "qemu");
    if (e.code === "operation_timeout") {
      // QEMU serves one client per monitor socket; a second connection is accepted by the
      // kernel but gets no greeting until the first one leaves.
      throw new AgentError("operation_timeout", `the QMP socket ${path} did not answer within ${o.qmpTimeoutMs} ms: another client (virsh, qmp-shell, socat …) probably holds it; QEMU serves one client per monitor at a time`, { component: "qemu", cause: e });
    }
    if (e.code === "invalid_arg") throw e;
    throw new AgentError("operation_failed", `cannot connect to the QMP socket ${path} of pid ${o.pid}: ${e.message}`, { component: "qemu", cause: e });
  }
}

async function queryFacts(qmp: QmpClient): Promise<QmpFacts> {
  const [name, uuid, cpus, memory, block, pci, status] = await Promise.all([
    qmp.execute<QmpFacts["name"]>("query-name"),
    qmp.execute<QmpFacts["uuid"]>("query-uuid"),
    qmp.execute<QmpFacts["cpus"]>("query-cpus-fast"),
    qmp.execute<QmpFacts["memory"]>("query-memory-size-summary"),
    qmp.execute<QmpFacts["block"]>("query-block"),
    qmp.execute<QmpFacts["pci"]>("query-pci"),
    qmp.execute<QmpFacts["status"]>("query-status"),
  ]);
  return { name, uuid, cpus, memory, block, pci, status };
}

/** /proc/PID/stat start time is in clock ticks after boot; USER_HZ is 100 on Linux. */
async function processStartMs(startTicks: number): Promise<number> {
  const stat = await readFile("/proc/stat", "utf8").catch(() => "");
  const btime = Number(/^btime (\d+)$/m.exec(stat)?.[1]);
  return Number.isFinite(btime) && btime > 0 ? btime * 1000 + startTicks * 10 : Date.now();
}
