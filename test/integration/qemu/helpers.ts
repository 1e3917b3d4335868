/** Shared helpers of the QEMU integration tests: host checks, temp dirs, pid tracking. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const QEMU_BINARY = "/usr/bin/qemu-system-x86_64";

/** Fails (never skips) when QEMU is missing, naming the Debian package. */
export function requireQemu(): void {
  try {
    execFileSync(QEMU_BINARY, ["--version"], { stdio: "pipe" });
  } catch {
    throw new Error(`${QEMU_BINARY} not found: install the Debian package qemu-system-x86`);
  }
}

export interface TempDirs {
  root: string;
  stateDir: string;
  runDir: string;
  cleanup(): void;
}

export function makeTempDirs(prefix: string): TempDirs {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const stateDir = join(root, "state");
  const runDir = join(root, "run");
  for (const d of [stateDir, runDir, join(runDir, "qemu"), join(stateDir, "log")]) mkdirSync(d, { recursive: true });
  return { root, stateDir, runDir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Remembers every QEMU pid a test started so afterEach/afterAll can SIGKILL leftovers. */
export class PidTracker {
  private readonly pids = new Set<number>();

  add(pid: number | undefined): void {
    if (pid !== undefined) this.pids.add(pid);
  }

  killAll(): void {
    for (const pid of this.pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    this.pids.clear();
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8", stdio: "pipe" });
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A minimal hand-written argv: diskless SeaBIOS guest under TCG, monitor on fd 3. */
export function minimalArgv(name: string): string[] {
  return [
    "-name", `guest=${name}`,
    "-machine", "pc", "-accel", "tcg", "-m", "64",
    "-no-user-config", "-nodefaults", "-no-shutdown", "-display", "none", "-S",
    "-chardev", "socket,id=monitor,fd=3,server=on,wait=off",
    "-mon", "chardev=monitor,mode=control",
  ];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
