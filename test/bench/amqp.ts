/**
 * Bus benchmark on loopback (prints JSON): raw amqplib RPC vs the agent's host.ping round
 * trip, events/s with confirms through the outbox, and emit → consumer latency.
 * Two raw baselines: a classic exclusive queue (the floor of any AMQP RPC here) and a quorum
 * queue with persistent commands acked after the reply (the agent's own topology, DESIGN.md
 * §4): a quorum queue only delivers after the broker's log write, so compare the agent with
 * the second one. The three RPC paths are interleaved call by call. Warm-up rounds are
 * dropped; n calls are measured per path (and n domain.send_key calls to a real guest).
 * Run: npx tsx test/bench/amqp.ts [calls]
 */
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "amqplib";
import { silentLogger } from "../../agent/core/log.js";
import { FleetClient } from "../../agent/exporters/amqp/client.js";
import { AmqpExporter } from "../../agent/exporters/amqp/exporter.js";
import { makeQemuHarness } from "../helpers/qemu-harness.js";
import { amqpConfig, BROKER, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "../integration/amqp/env.js";

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
};

interface RawRpc {
  call(): Promise<void>;
  close(): Promise<void>;
}

/** A bare amqplib RPC server and client: over a classic exclusive queue, or over a quorum queue like the agent's. */
async function openRawRpc(prefix: string, quorum: boolean): Promise<RawRpc> {
  const c = await connect(BROKER, { noDelay: true });
  const srv = await c.createChannel();
  const cli = await c.createChannel();
  const name = `${prefix}.raw.${quorum ? "quorum" : "classic"}`;
  const q = (await srv.assertQueue(name, quorum ? { durable: true, arguments: { "x-queue-type": "quorum" } } : { exclusive: true })).queue;
  await srv.prefetch(16);
  await srv.consume(q, (m) => {
    if (!m) return;
    srv.publish("", m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId });
    srv.ack(m);
  });
  const rq = (await cli.assertQueue("", { exclusive: true })).queue;
  const waiters = new Map<string, () => void>();
  await cli.consume(rq, (m) => m && waiters.get(String(m.properties.correlationId))?.(), { noAck: true });
  let i = 0;
  return {
    call: () =>
      new Promise<void>((r) => {
        const id = String(i++);
        waiters.set(id, r);
        cli.sendToQueue(q, Buffer.from("{}"), { replyTo: rq, correlationId: id, persistent: quorum });
      }),
    close: async () => {
      await srv.deleteQueue(q);
      await c.close();
    },
  };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * The three RPC paths interleaved call by call (after 50 warm-up rounds), so a burst of
 * load from other processes on this shared machine hits all three alike.
 */
async function measureRpc(n: number, prefix: string, client: FleetClient): Promise<Record<"raw" | "rawQuorum" | "ping", number[]>> {
  const classic = await openRawRpc(prefix, false);
  const quorum = await openRawRpc(prefix, true);
  const out = { raw: [] as number[], rawQuorum: [] as number[], ping: [] as number[] };
  for (let i = 0; i < n + 50; i++) {
    const r = await time(() => classic.call());
    const rq = await time(() => quorum.call());
    const p = await time(() => client.call("h1", "host.ping"));
    if (i < 50) continue;
    out.raw.push(r);
    out.rawQuorum.push(rq);
    out.ping.push(p);
  }
  await classic.close();
  await quorum.close();
  return out;
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

const KEY_GUEST = "<domain type='qemu'><name>k</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>";

/** domain.send_key round trips over the bus to a real diskless TCG guest (QEMU driver). */
async function sendKeyOverBus(n: number, prefix: string): Promise<number[]> {
  const h = await makeQemuHarness({ policy: { roles: {}, users: { guest: ["admin"], bench: ["admin"] } } });
  const stateDir = mkdtempSync(join(tmpdir(), "vbt-amqp-qemu-"));
  const exporter = new AmqpExporter({ services: h.services, dispatcher: h.dispatcher, config: amqpConfig(prefix), stateDir, log: silentLogger() });
  const caller = { user: "bench", via: "internal" } as const;
  try {
    await h.dispatcher.dispatch("domain.define", { xml: KEY_GUEST }, caller);
    await h.dispatcher.dispatch("domain.start", { domain: "k" }, caller);
    await exporter.start();
    await waitUntil(() => exporter.health().connected, 5000, "the QEMU agent to connect");
    const client = await FleetClient.connect({ url: BROKER, prefix });
    const out: number[] = [];
    for (let i = 0; i < n + 50; i++) {
      const t0 = performance.now();
      const r = await client.call(h.services.hostId, "domain.send_key", { domain: "k", keys: ["KEY_A"] });
      if (r.status !== "ok") throw new Error(`send_key over the bus: ${r.status} ${r.error?.message ?? ""}`);
      if (i >= 50) out.push(performance.now() - t0); // the first calls warm the QMP schema cache
    }
    await client.close();
    return out;
  } finally {
    await exporter.stop();
    await h.cleanup();
    removeDir(stateDir);
    await cleanupTopology(prefix, [h.services.hostId]);
  }
}

async function main(): Promise<void> {
  await requireBroker();
  const n = Number(process.argv[2] ?? 2000);
  const prefix = uniquePrefix();
  const agent = await startAgent({ prefix, demoDomains: 1, cfg: { confirm_window: 512 } });
  try {
    await waitUntil(() => agent.exporter.health().connected, 5000, "connect");
    const client = await FleetClient.connect({ url: BROKER, prefix });
    const rpc = await measureRpc(n, prefix, client);
    const ev = await measureEvents(agent, client);
    await client.close();
    const sendKey = await sendKeyOverBus(n, prefix);
    const result = {
      calls: n,
      raw_rpc_ms: { p50: pct(rpc.raw, 50), p99: pct(rpc.raw, 99) },
      raw_rpc_quorum_ms: { p50: pct(rpc.rawQuorum, 50), p99: pct(rpc.rawQuorum, 99) },
      agent_ping_ms: { p50: pct(rpc.ping, 50), p99: pct(rpc.ping, 99) },
      agent_send_key_ms: { p50: pct(sendKey, 50), p99: pct(sendKey, 99) },
      events_per_s_confirmed: ev.eps,
      event_latency_ms: { p50: pct(ev.lat, 50), p99: pct(ev.lat, 99) },
      loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await agent.exporter.stop();
    removeDir(agent.stateDir);
    await cleanupTopology(prefix, ["h1"]);
  }
}

await main();
