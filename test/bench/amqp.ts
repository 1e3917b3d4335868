/**
 * Bus benchmark on loopback (prints JSON): raw amqplib RPC vs the agent's host.ping round
 * trip, events/s with confirms through the outbox, emit → consumer latency, and
 * domain.send_key over the bus against the same RPC doing a raw QMP send-key.
 *
 * send_key runs the compiled agent and the raw server each in a process of its own (see
 * sendKeyOverBus()); host.ping and the raw RPCs run in this process, next to their clients.
 *
 * Raw baselines: a classic exclusive queue (the floor of any AMQP RPC here) and a quorum
 * queue with persistent commands acked after the reply (the agent's own topology, DESIGN.md
 * §4; a quorum queue only delivers after the broker's log write, so compare the agent with
 * this one). Servers and clients use separate connections, as separate processes would.
 *
 * Paths take turns in blocks of BLOCK back-to-back calls (the first SKIP of each block and
 * the whole first round are warm-up), n measured calls per path. Blocks, not single calls
 * in turn: each call leaves work behind on the broker (its ack is a quorum-log write of its
 * own), which the next call pays for; interleaving call by call made every path pay for a
 * different one's leftovers, while a block measures each path as a controller issuing
 * commands back to back sees it, and alternating blocks still spreads machine noise evenly.
 * Run: npx tsx test/bench/amqp.ts [calls] [rpc,events,send_key]
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { connect } from "amqplib";
import { procCpu } from "../../agent/drivers/qemu/stats.js";
import { FleetClient } from "../../agent/exporters/amqp/client.js";
import { startAgentProcess } from "../helpers/agent-process.js";
import { BROKER, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "../integration/amqp/env.js";

const BLOCK = 50;
const SKIP = 5;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
};

interface RawRpc {
  call(): Promise<void>;
  close(): Promise<void>;
}

/** A bare amqplib RPC client on a connection of its own: persistent commands to `queue`, replies on an exclusive queue. */
async function openRawClient(queue: string, persistent = true): Promise<RawRpc> {
  const conn = await connect(BROKER, { noDelay: true });
  const cli = await conn.createChannel();
  const rq = (await cli.assertQueue("", { exclusive: true })).queue;
  const waiters = new Map<string, () => void>();
  await cli.consume(rq, (m) => m && waiters.get(String(m.properties.correlationId))?.(), { noAck: true });
  let i = 0;
  return {
    call: () =>
      new Promise<void>((r) => {
        const id = String(i++);
        waiters.set(id, r);
        cli.sendToQueue(queue, Buffer.from("{}"), { replyTo: rq, correlationId: id, persistent });
      }),
    close: () => conn.close(),
  };
}

/**
 * A bare amqplib RPC server and client (separate connections): over a classic exclusive
 * queue, or over a quorum queue like the agent's.
 */
async function openRawRpc(prefix: string, name: string, quorum: boolean): Promise<RawRpc> {
  const conn = await connect(BROKER, { noDelay: true });
  const srv = await conn.createChannel();
  const q = (await srv.assertQueue(quorum ? `${prefix}.raw.${name}` : "", quorum ? { durable: true, arguments: { "x-queue-type": "quorum" } } : { exclusive: true })).queue;
  await srv.prefetch(16);
  await srv.consume(q, (m) => {
    if (!m) return;
    srv.publish("", m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId });
    srv.ack(m);
  });
  const client = await openRawClient(q, quorum);
  return {
    call: client.call,
    close: async () => {
      if (quorum) await srv.deleteQueue(q);
      await client.close();
      await conn.close();
    },
  };
}

/** Runs the paths in alternating blocks of back-to-back calls; returns n samples (ms) per path. */
async function inBlocks(paths: Record<string, () => Promise<unknown>>, n: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
  const rounds = Math.ceil(n / (BLOCK - SKIP)) + 1;
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(paths)) {
      for (let k = 0; k < BLOCK; k++) {
        const t0 = performance.now();
        await fn();
        const ms = performance.now() - t0;
        if (r > 0 && k >= SKIP && out[name]!.length < n) out[name]!.push(ms);
      }
    }
  }
  return out;
}

async function measureRpc(n: number, prefix: string, client: FleetClient): Promise<Record<string, number[]>> {
  const classic = await openRawRpc(prefix, "classic", false);
  const quorum = await openRawRpc(prefix, "quorum", true);
  try {
    return await inBlocks({ raw: () => classic.call(), rawQuorum: () => quorum.call(), ping: () => client.call("h1", "host.ping") }, n);
  } finally {
    await classic.close();
    await quorum.close();
  }
}

async function measureEvents(agent: Agent, client: FleetClient): Promise<{ lat: number[]; eps: number }> {
  const lat: number[] = [];
  const sentAt = new Map<number, number>();
  let got = 0;
  const stop = await client.subscribe([{ exchange: "events", pattern: "ev.h1.domain.#" }], (e) => {
    got++;
    const t = sentAt.get(e.seq);
    if (t !== undefined) lat.push(performance.now() - t);
  });
  const dom = agent.h.store.listDomains()[0]!;
  const emit = (event: "suspended" | "resumed"): void => {
    const paused = event === "suspended";
    agent.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event, detail: paused ? "paused" : "unpaused", state: paused ? "paused" : "running", reason: paused ? "user" : "unpaused" });
  };
  // latency: one event at a time
  for (let i = 0; i < 500; i++) {
    const before = got;
    sentAt.set(agent.exporter.health().lastSeq + 1, performance.now());
    emit("suspended");
    await waitUntil(() => got > before, 5000, "event");
  }
  // throughput: a burst of events, timed until the broker confirmed all of them
  const burst = 20_000;
  const c0 = agent.exporter.health().confirmed;
  const t0 = performance.now();
  for (let i = 0; i < burst; i++) emit("resumed");
  await waitUntil(() => agent.exporter.health().confirmed - c0 >= burst, 60_000, "confirms");
  const eps = Math.round(burst / ((performance.now() - t0) / 1000));
  await stop();
  return { lat, eps };
}

/** The host id the contract-speaking raw server answers for. */
const RAW_HOST = "kraw";

const KEY_GUEST = "<domain type='qemu'><name>k</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>";

/** CPU time (user + system, ms) a process has used so far. */
function cpuMs(pid: number): number {
  const { userNs, systemNs } = procCpu(readFileSync(`/proc/${pid}/stat`, "utf8"));
  return (userNs + systemNs) / 1e6;
}

/**
 * Waits (at most 30 s) until the broker has used under 10% of a CPU for a whole second, so
 * that send_key does not start on a broker still busy with the 20,000-event burst before
 * it (quorum-queue log work, deleted queues).
 */
async function brokerQuiet(): Promise<void> {
  let pid: number;
  try {
    pid = Number(execFileSync("pgrep", ["-o", "beam.smp"]).toString().trim());
  } catch {
    return; // no local broker process to watch
  }
  for (let i = 0; i < 30; i++) {
    const c0 = cpuMs(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuMs(pid) - c0 < 100) return;
  }
}

interface Server {
  pid: number;
  /** Stops it (SIGTERM) and resolves with everything it printed. */
  stop: () => Promise<string>;
}

/** A child process that prints READY when it serves; resolves with its pid and a stop(). */
async function startServer(args: string[]): Promise<Server> {
  const cp = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    cp.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("READY")) resolve();
    });
    cp.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready`)));
  });
  return {
    pid: cp.pid!,
    stop: async () => {
      const exited = new Promise((r) => cp.once("exit", r));
      cp.kill("SIGTERM");
      await exited;
      return out;
    },
  };
}

/**
 * domain.send_key over the bus to a real diskless TCG guest, against the same thing done
 * raw. Each server is a process of its own, as in production (a controller never runs
 * inside the agent): the compiled agent with its default config (QEMU driver, info-level
 * log to a file, journal, audit events) and test/bench/bus-raw-server.ts, a bare
 * quorum-queue RPC server relaying each command as one raw QMP `send-key` to a QEMU of its
 * own launched with the agent's argv. Both clients live in this process; the agent's
 * events are counted by test/bench/event-follower.ts, in a process of its own.
 *
 * A third path splits the difference: the same raw server speaking the bus contract
 * (bus-raw-server.ts `contract`), called through FleetClient with the agent's own messages.
 * Agent − contract is then the agent's own work; contract − raw is what the contract's
 * messages, exchanges and client cost any server.
 */
async function sendKeyOverBus(n: number, prefix: string): Promise<{ raw: number[]; rawContract: number[]; agent: number[]; cpuUsPerCall: { agent: number; raw: number } }> {
  const hostId = "kbench";
  const agentProc = await startAgentProcess(
    { host_id: hostId, hypervisor: { driver: "qemu" }, authz: { users: { guest: ["admin"] } }, amqp: { enabled: true, url: BROKER, username: "guest", prefix } },
    undefined,
    { compiled: true, logFile: true },
  );
  let rawServer: Server | undefined;
  let contractServer: Server | undefined;
  let client: FleetClient | undefined;
  let raw: RawRpc | undefined;
  let follower: Server | undefined;
  try {
    client = await FleetClient.connect({ url: BROKER, prefix, timeoutMs: 60_000 });
    // Someone follows the host's events, as in production: with no queue bound, every audit
    // event (published mandatory, DESIGN.md §4) came back to the agent as a basic.return. The
    // follower only counts them, in a process of its own (an event service): in this one, its
    // deliveries landed in the measuring client's event loop on the agent's path only.
    follower = await startServer(["test/bench/event-follower.ts", prefix, hostId]);
    // Commands published before the agent has declared its queue are unroutable (the client
    // fails them at once): ping until it answers, for at most 20 s.
    for (const until = Date.now() + 20_000; ; ) {
      const r = await client.call(hostId, "host.ping", {}, { timeoutMs: 250 }).catch(() => undefined);
      if (r?.status === "ok") break;
      if (Date.now() > until) throw new Error(`the agent process does not answer on the bus:\n${agentProc.output()}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    await client.invoke(hostId, "domain.define", { xml: KEY_GUEST });
    await client.invoke(hostId, "domain.start", { domain: "k" });
    rawServer = await startServer(["test/bench/bus-raw-server.ts", `${prefix}.raw.sendkey`]);
    raw = await openRawClient(`${prefix}.raw.sendkey`);
    contractServer = await startServer(["test/bench/bus-raw-server.ts", `${prefix}.raw.contract`, "contract", prefix, RAW_HOST]);
    const c = client;
    // Shift alone types nothing, so thousands of presses leave the guest alone.
    const sendKey = async (host: string): Promise<void> => {
      const r = await c.call(host, "domain.send_key", { domain: "k", keys: ["KEY_LEFTSHIFT"] });
      if (r.status !== "ok") throw new Error(`send_key over the bus to ${host}: ${r.status} ${r.error?.message ?? ""}`);
    };
    const pids = { agent: agentProc.proc.pid!, raw: rawServer.pid };
    const cpu0 = { agent: cpuMs(pids.agent), raw: cpuMs(pids.raw) };
    const s = await inBlocks({ raw: () => raw!.call(), rawContract: () => sendKey(RAW_HOST), agent: () => sendKey(hostId) }, n);
    const events = Number(/EVENTS (\d+)/.exec(await follower.stop())?.[1] ?? 0);
    follower = undefined;
    if (events < n) throw new Error(`the event follower got ${events} events for ${n}+ commands`);
    // every call of a path, warm-ups included, is served by that path's process
    const served = (Math.ceil(n / (BLOCK - SKIP)) + 1) * BLOCK;
    const perCall = (k: "agent" | "raw") => Math.round(((cpuMs(pids[k]) - cpu0[k]) * 1000) / served);
    return { raw: s["raw"]!, rawContract: s["rawContract"]!, agent: s["agent"]!, cpuUsPerCall: { agent: perCall("agent"), raw: perCall("raw") } };
  } finally {
    // The agent leaves its guests running when it stops, as it should: stop this one first.
    await client?.call(hostId, "domain.destroy", { domain: "k" }, { timeoutMs: 10_000 }).catch(() => undefined);
    await follower?.stop();
    await raw?.close();
    await rawServer?.stop();
    await contractServer?.stop();
    await client?.close();
    await agentProc.stop();
    await cleanupTopology(prefix, [hostId]);
  }
}

async function main(): Promise<void> {
  await requireBroker();
  const n = Number(process.argv[2] ?? 2000);
  const parts = new Set((process.argv[3] ?? "rpc,events,send_key").split(","));
  const prefix = uniquePrefix();
  const result: Record<string, unknown> = { calls: n, block: BLOCK };
  if (parts.has("rpc") || parts.has("events")) {
    const agent = await startAgent({ prefix, demoDomains: 1, cfg: { confirm_window: 512 } });
    try {
      await waitUntil(() => agent.exporter.health().connected, 5000, "connect");
      const client = await FleetClient.connect({ url: BROKER, prefix });
      if (parts.has("rpc")) {
        const rpc = await measureRpc(n, prefix, client);
        result["raw_rpc_ms"] = { p50: pct(rpc["raw"]!, 50), p99: pct(rpc["raw"]!, 99) };
        result["raw_rpc_quorum_ms"] = { p50: pct(rpc["rawQuorum"]!, 50), p99: pct(rpc["rawQuorum"]!, 99) };
        result["agent_ping_ms"] = { p50: pct(rpc["ping"]!, 50), p99: pct(rpc["ping"]!, 99) };
      }
      if (parts.has("events")) {
        const ev = await measureEvents(agent, client);
        result["events_per_s_confirmed"] = ev.eps;
        result["event_latency_ms"] = { p50: pct(ev.lat, 50), p99: pct(ev.lat, 99) };
      }
      await client.close();
    } finally {
      await agent.exporter.stop();
      removeDir(agent.stateDir);
      await cleanupTopology(prefix, ["h1"]);
    }
  }
  if (parts.has("send_key")) {
    await brokerQuiet();
    const sendKey = await sendKeyOverBus(n, prefix);
    result["raw_send_key_rpc_ms"] = { p50: pct(sendKey.raw, 50), p99: pct(sendKey.raw, 99) };
    result["raw_send_key_contract_ms"] = { p50: pct(sendKey.rawContract, 50), p99: pct(sendKey.rawContract, 99) };
    result["agent_send_key_ms"] = { p50: pct(sendKey.agent, 50), p99: pct(sendKey.agent, 99) };
    result["send_key_cpu_us_per_call"] = sendKey.cpuUsPerCall;
  }
  result["loadavg"] = loadavg().map((x) => Number(x.toFixed(2)));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
