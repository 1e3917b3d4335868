import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ChannelModel } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/core/log.js";
import { CommandConsumer } from "../../../agent/exporters/amqp/consumer.js";
import { IdempotencyStore } from "../../../agent/exporters/amqp/idempotency.js";
import { makeHarness } from "../../helpers/harness.js";
import { BROKER, removeDir, requireBroker, uniquePrefix, waitUntil, watchSocketWrites } from "./env.js";

describe("AMQP command consumer", () => {
  const conns: ChannelModel[] = [];
  let dir = "";

  beforeAll(requireBroker);

  afterEach(async () => {
    for (const c of conns.splice(0)) await c.close().catch(() => undefined);
    if (dir) removeDir(dir);
  });

  async function setup() {
    const h = await makeHarness({ hostId: "h1", demoDomains: 1, policy: { roles: {}, users: { guest: ["admin"] } } });
    dir = mkdtempSync(join(tmpdir(), "vbt-cons-"));
    const idem = IdempotencyStore.open(dir, 100, { bootId: "b1" });
    const consumer = new CommandConsumer({
      dispatcher: h.dispatcher,
      idem,
      volatileSync: "background",
      hostId: "h1",
      log: silentLogger(),
      buildReply: (inReplyTo, core) => ({ exchange: "", content: Buffer.from(JSON.stringify({ in_reply_to: inReplyTo, ...core })), props: {} }),
    });
    const queue = `${uniquePrefix()}.cmd`;
    const agentConn = await connect(BROKER, { noDelay: true });
    const clientConn = await connect(BROKER, { noDelay: true });
    conns.push(clientConn, agentConn);
    const ch = await agentConn.createChannel();
    await ch.assertQueue(queue, { exclusive: true });
    await consumer.attach(ch, queue, 4);
    const cli = await clientConn.createChannel();
    const rq = (await cli.assertQueue("", { exclusive: true })).queue;
    const replies: { in_reply_to: string; status: string }[] = [];
    await cli.consume(rq, (m) => m && replies.push(JSON.parse(m.content.toString()) as (typeof replies)[number]), { noAck: true });
    const send = (id: string, op: string, target: Record<string, string> = {}) =>
      cli.sendToQueue(queue, Buffer.from(JSON.stringify({ v: 1, command_id: id, op, target: { host: "h1", ...target }, args: {} })), { replyTo: rq, messageId: id, userId: "guest" });
    const audits = () => h.events.filter((e) => e.name === "command.audit").length;
    return { h, idem, consumer, ch, queue, replies, send, audits };
  }

  it("a command's reply and its ack leave in one write to the socket, and its audit follows the reply", async () => {
    const { idem, ch, queue, replies, send, audits } = await setup();

    const auditsAtWrite: number[] = [];
    const writes = watchSocketWrites(ch, () => auditsAtWrite.push(audits())); // frames per write to the kernel

    const before = audits();
    send("c1", "domain.suspend", { domain: "demo-1" });

    await waitUntil(() => replies.length === 1 && audits() > before, 5000, "the reply and the audit");
    expect(replies[0]).toMatchObject({ in_reply_to: "c1", status: "ok" });
    expect(writes).toEqual([2]); // reply + ack, one writev
    expect(auditsAtWrite).toEqual([before]); // the audit came after the reply had left
    const q = await ch.checkQueue(queue);
    expect(q.messageCount).toBe(0); // acked: nothing left to redeliver
    await new Promise((r) => setTimeout(r, 30));
    expect(idem.get("guest\u0000c1")).toMatchObject({ state: "done", reply: { status: "ok" } });
    idem.close();
  });

  it("audits of back-to-back commands are written together after their replies, and drain() writes those still waiting", async () => {
    const { h, idem, consumer, replies, send, audits } = await setup();
    const emittedAt: number[] = [];
    h.bus.onAny("test", (e) => void (e.name === "command.audit" && emittedAt.push(performance.now())));
    const repliedAt: number[] = [];
    for (let i = 0; i < 6; i++) {
      send(`p${i}`, "host.ping");
      await waitUntil(() => replies.length === i + 1, 5000, "a reply");
      repliedAt.push(performance.now());
    }
    await consumer.drain(2000); // nothing running: it writes the waiting audits at once
    expect(audits()).toBe(6);
    expect(Math.min(...emittedAt)).toBeGreaterThan(repliedAt[0]!);
    // one at a time, each would have its own turn; together they come in runs
    const runs = emittedAt.filter((t, i) => i === 0 || t - emittedAt[i - 1]! > 1).length;
    expect(runs).toBeLessThan(6);
    idem.close();
  });
});
