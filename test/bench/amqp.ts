/**
 * Bus benchmark on loopback (prints JSON): raw amqplib RPC vs the agent's host.ping round
 * trip, events/s with confirms through the outbox, and emit → consumer latency.
 * Two raw baselines: a classic exclusive queue (the floor of any AMQP RPC here) and a quorum
 * queue with persistent commands acked after the reply (the agent's own topology, DESIGN.md
 * §4): a quorum queue only delivers after the broker's log write, so compare the agent with
 * the second one.
 * Run: npx tsx test/bench/amqp.ts [calls]
 */
import { loadavg } from "node:os";
import { connect } from "amqplib";
import { FleetClient } from "../../agent/exporters/amqp/client.js";
import { BROKER, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil } from "../integration/amqp/env.js";

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
};

async function rawRpc(n: number, prefix: string, quorum: boolean): Promise<number[]> {
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
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      waiters.set(String(i), r);
      cli.sendToQueue(q, Buffer.from("{}"), { replyTo: rq, correlationId: String(i), persistent: quorum });
    });
    out.push(performance.now() - t0);
  }
  await srv.deleteQueue(q);
  await c.close();
  return out;
}

async function main(): Promise<void> {
  await requireBroker();
  const n = Number(process.argv[2] ?? 2000);
  const prefix = uniquePrefix();
  const agent = await startAgent({ prefix, demoDomains: 1, cfg: { confirm_window: 512 } });
  try {
    await waitUntil(() => agent.exporter.health().connected, 5000, "connect");
    const raw = await rawRpc(n, prefix, false);
    const rawQuorum = await rawRpc(n, prefix, true);
    const client = await FleetClient.connect({ url: BROKER, prefix });
    const ping: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await client.call("h1", "host.ping");
      ping.push(performance.now() - t0);
    }
    const lat: number[] = [];
    const sentAt = new Map<number, number>();
    let got = 0;
    const stop = await client.subscribe([{ exchange: "events", pattern: "ev.h1.domain.#" }], (e) => {
      got++;
      const t = sentAt.get(e.seq);
      if (t !== undefined) lat.push(performance.now() - t);
    });
    const dom = agent.h.store.listDomains()[0]!;
    // latency: one event at a time
    for (let i = 0; i < 500; i++) {
      const before = got;
      sentAt.set(agent.exporter.health().lastSeq + 1, performance.now());
      agent.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event: "suspended", detail: "paused", state: "paused", reason: "user" });
      await waitUntil(() => got > before, 5000, "event");
    }
    // throughput: a burst of events, timed until the broker confirmed all of them
    const burst = 20_000;
    const c0 = agent.exporter.health().confirmed;
    const t0 = performance.now();
    for (let i = 0; i < burst; i++) agent.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event: "resumed", detail: "unpaused", state: "running", reason: "unpaused" });
    await waitUntil(() => agent.exporter.health().confirmed - c0 >= burst, 60_000, "confirms");
    const eps = Math.round(burst / ((performance.now() - t0) / 1000));
    await stop();
    await client.close();
    const result = {
      calls: n,
      raw_rpc_ms: { p50: pct(raw, 50), p99: pct(raw, 99) },
      raw_rpc_quorum_ms: { p50: pct(rawQuorum, 50), p99: pct(rawQuorum, 99) },
      agent_ping_ms: { p50: pct(ping, 50), p99: pct(ping, 99) },
      events_per_s_confirmed: eps,
      event_latency_ms: { p50: pct(lat, 50), p99: pct(lat, 99) },
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
