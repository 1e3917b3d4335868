/**
 * A real Net-SNMP snmpd as AgentX master for tests: temporary config and persistent dir,
 * UDP on a loopback port, AgentX over TCP (npm net-snmp's subagent speaks TCP only), two
 * SNMPv3 authPriv users (admin rw, reader ro) created with createUser, v2c "public" ro.
 */
import { execa, type ResultPromise } from "execa";
import { createServer } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requireTool, snmp } from "./tools.js";

export interface Snmpd {
  udpPort: number;
  agentxPort: number;
  /** The AgentX master's unix socket, when made with `agentxUnix` (then there is no TCP one). */
  agentxPath?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (snmpd binds it, not us). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * `trapSinkPort`: snmpd forwards notifications (its own and the subagent's) there as v2c traps,
 * community "trapcomm". `agentxUnix`: AgentX on a unix socket in `dir` (as Net-SNMP's default
 * /var/agentx/master) instead of TCP.
 */
export async function makeSnmpd(dir: string, opts: { trapSinkPort?: number; agentxUnix?: boolean } = {}): Promise<Snmpd> {
  const bin = requireTool("snmpd");
  const udpPort = await freePort();
  const agentxPort = await freePort();
  const agentxPath = opts.agentxUnix ? join(dir, "agentx.sock") : undefined;
  const persist = join(dir, "persist");
  await mkdir(persist, { recursive: true, mode: 0o700 });
  const conf = join(dir, "snmpd.conf");
  await writeFile(conf, [
    `agentaddress udp:127.0.0.1:${udpPort}`,
    "master agentx",
    opts.agentxUnix ? `agentXSocket unix:${agentxPath}` : `agentXSocket tcp:127.0.0.1:${agentxPort}`,
    'createUser admin SHA-256 "admin-auth-pass" AES "admin-priv-pass"',
    'createUser reader SHA-256 "reader-auth-pass" AES "reader-priv-pass"',
    "rwuser admin priv",
    "rouser reader priv",
    "rocommunity public 127.0.0.1",
    ...(opts.trapSinkPort ? [`trap2sink 127.0.0.1:${opts.trapSinkPort} trapcomm`] : []),
    "",
  ].join("\n"), { mode: 0o600 });
  let child: ResultPromise | undefined;
  const start = async () => {
    // -C: only this config; MIBS empty: snmpd needs no MIB files to serve OIDs.
    child = execa(bin, ["-f", "-Lo", "-C", "-c", conf, "-p", join(dir, "snmpd.pid"), `--persistentDir=${persist}`, "-M", "/nonexistent", "-m", ""], {
      reject: false,
      env: { MIBS: "" },
    });
    await waitForAnswer(udpPort, "1.3.6.1.2.1.1.3.0");
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill("SIGTERM");
    await c;
  };
  return { udpPort, agentxPort, ...(agentxPath ? { agentxPath } : {}), start, stop };
}

/** Polls until snmpd (and, for a subagent OID, the subagent behind it) answers `oid`. */
export async function waitForAnswer(port: number, oid: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    const r = await snmp("snmpget", ["-v2c", "-c", "public", "-t", "1", "-r", "0", `udp:127.0.0.1:${port}`, oid]);
    if (r.exitCode === 0 && !/No Such/.test(r.stdout)) return;
    last = r.stdout + r.stderr;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`no answer for ${oid} on udp:127.0.0.1:${port} within ${timeoutMs} ms: ${last}`);
}

export interface Trapd {
  proc: ResultPromise;
  out: () => string;
}

/** snmptrapd -f on a loopback port with the given config; resolves once it is listening. */
export async function startTrapd(dir: string, name: string, port: number, conf: string): Promise<Trapd> {
  const file = join(dir, `${name}.conf`);
  await writeFile(file, conf);
  const proc = execa(requireTool("snmptrapd"), ["-f", "-Lo", "-n", "-On", "-C", "-c", file, "-M", "/nonexistent", "-m", "", `udp:127.0.0.1:${port}`], {
    reject: false,
    env: { MIBS: "", SNMPCONFPATH: dir },
  });
  let text = "";
  proc.stdout?.on("data", (b: Buffer) => (text += b.toString()));
  proc.stderr?.on("data", (b: Buffer) => (text += b.toString()));
  const t0 = Date.now();
  while (!/NET-SNMP version/.test(text) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  if (!/NET-SNMP version/.test(text)) throw new Error(`snmptrapd did not start: ${text}`);
  return { proc, out: () => text };
}
