import { connect, type ConsumeMessage } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { BROKER, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

/** A small deterministic PRNG so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const VALID = { v: 1, command_id: "x", op: "host.ping", target: { host: "h1" }, args: {} };
const ODD = [null, true, 0, -1, 1e308, "", "💥", [], {}, { a: [1] }, "\u0000", "domain.start", "h1", 2, "x".repeat(300)];

function mutate(r: () => number, i: number): Buffer {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const kind = i % 5;
  if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
  const body: Record<string, unknown> = structuredClone(VALID);
  body["command_id"] = `f-${i}`;
  const keys = ["v", "command_id", "op", "target", "args", "deadline", "idempotency_key", "extra"];
  for (let n = 0; n < 1 + Math.floor(r() * 3); n++) {
    const k = pick(keys);
    if (r() < 0.3) delete body[k];
    else body[k] = pick(ODD);
  }
  if (kind === 1) body["target"] = { host: "h1", domain: pick(ODD) };
  const text = JSON.stringify(body);
  if (kind === 2) return Buffer.from(text.slice(0, Math.floor(r() * text.length)));
  return Buffer.from(kind === 3 ? text.replace(/"/g, () => (r() < 0.05 ? "'" : '"')) : text);
}

describe("fuzzing the command consumer", () => {
  let prefix = "";
  let agent: Agent | undefined;

  beforeAll(requireBroker);

  afterEach(async () => {
    await agent?.exporter.stop();
    if (agent) removeDir(agent.stateDir);
    await cleanupTopology(prefix, ["h1"]);
  });

  it("10,000 random and mutated bodies each get exactly one final reply and the agent still answers ping", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix, cfg: { concurrency: 64 } });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const c = await connect(BROKER, { noDelay: true });
    const ch = await c.createConfirmChannel();
    const q = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.bindQueue(q, agent.exporter.names.reply, q);
    const finals = new Map<string, number>();
    await ch.consume(q, (m: ConsumeMessage | null) => {
      if (!m) return;
      const r = JSON.parse(m.content.toString()) as { status: string };
      if (r.status === "accepted") return;
      const id = String(m.properties.correlationId ?? "none");
      finals.set(id, (finals.get(id) ?? 0) + 1);
    }, { noAck: true });
    const r = rng(20240517);
    const N = 10_000;
    for (let i = 0; i < N; i++) {
      // the correlation id is the AMQP message_id, so even unparseable bodies are matched
      ch.publish(agent.exporter.names.cmd, "host.h1", mutate(r, i), { replyTo: q, messageId: `m-${i}`, ...(i % 7 === 0 ? {} : { userId: "guest" }) });
      if (i % 500 === 499) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    const answered = (): number => [...finals.keys()].filter((k) => k.startsWith("m-") || k.startsWith("f-")).length;
    await waitUntil(() => agent!.exporter.health().commands >= N, 120_000, "the agent to handle every fuzzed command");
    await waitUntil(() => [...finals.values()].reduce((a, b) => a + b, 0) >= N, 30_000, "every reply");
    expect([...finals.values()].reduce((a, b) => a + b, 0)).toBe(N);
    expect(answered()).toBeGreaterThan(0);
    await c.close();
    const ping = await (await import("../../../agent/exporters/amqp/client.js")).FleetClient.connect({ url: BROKER, prefix });
    expect((await ping.call("h1", "host.ping")).status).toBe("ok");
    await ping.close();
  }, 180_000);
});
