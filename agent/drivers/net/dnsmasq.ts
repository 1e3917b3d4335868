/**
 * One dnsmasq per network: config written atomically, started daemonised (its exit status
 * tells whether it bound its sockets), stopped by pid file after checking the pid really
 * is our dnsmasq for this config (pids are reused).
 */
import { readFile } from "node:fs/promises";
import { removeFileDurable, writeFileAtomic } from "../../core/atomic-file.js";
import type { NetworkDef } from "../../model/network-def.js";
import { AgentError } from "../../model/errors.js";
import { buildDnsmasqConf } from "./dnsmasq-conf.js";
import type { NetExec } from "./exec.js";
import { parseLeases, type DhcpLease } from "./leases.js";

export interface DnsmasqFiles {
  conf: string;
  pidFile: string;
  leaseFile: string;
}

async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/** The pid from the pid file if that process is a dnsmasq running our config file. */
export async function dnsmasqPid(files: DnsmasqFiles): Promise<number | undefined> {
  const pid = await readPid(files.pidFile);
  if (pid === undefined) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  const argv = cmdline.split("\0");
  return argv[0]?.endsWith("dnsmasq") && argv.includes(`--conf-file=${files.conf}`) ? pid : undefined;
}

/** @throws AgentError operation_failed with dnsmasq's own message (e.g. address in use). */
export async function startDnsmasq(exec: NetExec, def: NetworkDef, files: DnsmasqFiles): Promise<number> {
  await writeFileAtomic(files.conf, buildDnsmasqConf(def, files), { mode: 0o644 });
  await removeFileDurable(files.pidFile);
  // dnsmasq forks and its parent exits only once the child is up, with a non-zero status if
  // it could not start; "user=" is left at dnsmasq's default (it drops to nobody).
  try {
    await exec.run("dnsmasq", [`--conf-file=${files.conf}`]);
    const pid = await dnsmasqPid(files);
    if (pid === undefined) throw new AgentError("operation_failed", `dnsmasq for network '${def.name}' did not write its pid file`, { component: "network" });
    return pid;
  } catch (err) {
    await stopDnsmasq(files).catch(() => undefined);
    throw err;
  }
}

/** Alive and not a zombie: an exited daemon stays a zombie until init reaps it. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "" && state !== "Z" && state !== "X";
}

/** Stops our dnsmasq (TERM, then KILL after 2 s) and removes its config and pid file. */
export async function stopDnsmasq(files: DnsmasqFiles): Promise<void> {
  const pid = await dnsmasqPid(files);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && (await alive(pid)); i++) await new Promise((r) => setTimeout(r, 20));
    if (await alive(pid)) process.kill(pid, "SIGKILL");
  }
  await removeFileDurable(files.pidFile);
  await removeFileDurable(files.conf);
}

export async function readDnsmasqLeases(files: DnsmasqFiles): Promise<DhcpLease[]> {
  return parseLeases(await readFile(files.leaseFile, "utf8").catch(() => ""));
}
