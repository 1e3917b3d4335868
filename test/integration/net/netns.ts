/**
 * Test helpers: throwaway network namespaces and host-tool checks. Everything a network
 * test builds lives inside namespaces created here and deleted in afterAll.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus } from "../../../agent/core/bus.js";
import type { EventEnvelope } from "../../../agent/core/events.js";
import { silentLogger } from "../../../agent/core/log.js";
import { NetDriver } from "../../../agent/drivers/net/driver.js";

const TOOLS: [string, string][] = [
  ["ip", "iproute2"],
  ["nft", "nftables"],
  ["dnsmasq", "dnsmasq-base"],
  ["busybox", "busybox-static"],
  ["sysctl", "procps"],
  ["cc", "gcc"],
];

/** Fails (never skips) naming the Debian package of the first missing tool. */
export function requireTools(): void {
  for (const [tool, pkg] of TOOLS) {
    const r = spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    if (r.status !== 0) throw new Error(`${tool} not found: install the Debian package "${pkg}"`);
  }
  const built = spawnSync(process.execPath, ["native/build.mjs"], { stdio: "inherit" });
  if (built.status !== 0) throw new Error("building native/build/tap.node failed (needs the Debian package gcc)");
}

export function run(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync("ip", ["netns", "exec", ns, cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function ok(ns: string, cmd: string, ...args: string[]): boolean {
  return spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { stdio: "ignore" }).status === 0;
}

export function addNetns(tag: string): string {
  const name = `vbt-${tag}-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", name]);
  run(name, "ip", "link", "set", "lo", "up");
  return name;
}

export function delNetns(name: string): void {
  // Kill anything still running inside (dnsmasq, udhcpc) before the namespace goes.
  const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  for (const pid of pids) spawnSync("kill", ["-9", pid]);
  spawnSync("ip", ["netns", "del", name]);
}

export interface NetFixture {
  ns: string;
  driver: NetDriver;
  events: EventEnvelope[];
  dirs: { stateDir: string; runDir: string };
  cleanup(): void;
}

/** A driver running entirely inside a fresh namespace with private state/run dirs. */
export async function netFixture(tag: string): Promise<NetFixture> {
  const ns = addNetns(tag);
  const base = mkdtempSync(join(tmpdir(), "vbt-net-"));
  const dirs = { stateDir: join(base, "state"), runDir: join(base, "run") };
  const bus = new EventBus();
  const events: EventEnvelope[] = [];
  bus.onAny("test", (ev) => events.push(ev));
  const driver = new NetDriver({ ...dirs, bus, log: silentLogger(), netns: ns });
  await driver.open();
  return {
    ns,
    driver,
    events,
    dirs,
    cleanup: () => {
      delNetns(ns);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** True when the process no longer runs (an exited daemon may linger as a zombie until init reaps it). */
export function processGone(pid: string | number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "Z" || state === "X";
}
