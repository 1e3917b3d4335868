/**
 * Runs the real agent (`agent/main.ts`) and CLI (`agent/cli.ts`) as processes, the way an
 * operator does, with a config in a temporary directory.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";

const TSX = ["--import", "tsx"];

export interface AgentProcess {
  dir: string;
  socket: string;
  proc: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cli(args: string[], opts?: { input?: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/**
 * Starts the agent with `config` merged over a loopback-only, temp-dir base; resolves when its
 * socket is up. `logFile`: the agent writes its output to `<dir>/agent.log` itself, as under a
 * service manager, instead of through a pipe this process reads (benchmarks: the measuring
 * process then does none of the agent's logging work).
 */
export async function startAgentProcess(
  config: Record<string, unknown>,
  dir = mkdtempSync(join(tmpdir(), "virtbus-e2e-")),
  opts: { compiled?: boolean; logFile?: boolean } = {},
): Promise<AgentProcess> {
  const socket = join(dir, "run", "virtbus.sock");
  const base = {
    state_dir: join(dir, "state"),
    run_dir: join(dir, "run"),
    log_level: "info",
    control: { socket_path: socket },
    amqp: { enabled: false },
    snmp: { enabled: false },
    prometheus: { enabled: false },
  };
  const cfgPath = join(dir, "agent.yaml");
  writeFileSync(cfgPath, stringify({ ...base, ...config }));
  const entry = opts.compiled ? ["dist/agent/main.js"] : [...TSX, "agent/main.ts"];
  const logPath = join(dir, "agent.log");
  const logFd = opts.logFile ? openSync(logPath, "a", 0o600) : undefined;
  const proc = spawn(process.execPath, [...entry, "--config", cfgPath], { stdio: logFd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", logFd, logFd] });
  if (logFd !== undefined) closeSync(logFd);
  let piped = "";
  proc.stdout?.on("data", (d: Buffer) => (piped += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (piped += d.toString()));
  const out = logFd === undefined ? () => piped : () => readFileSync(logPath, "utf8");
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  for (let i = 0; i < 200 && !existsSync(socket); i++) {
    if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}:\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(socket)) throw new Error(`agent socket did not appear:\n${out()}`);
  return {
    dir,
    socket,
    proc,
    output: out,
    stop: async (signal = "SIGTERM") => {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
    cli: async (args, opts = {}) => {
      const r = await execa(process.execPath, [...TSX, "agent/cli.ts", "--socket", socket, ...args], { reject: false, input: opts.input ?? "" });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
  };
}
