import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ChannelModel } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/core/log.js";
import { Outbox, type NewRecord } from "../../../agent/exporters/amqp/outbox.js";
import { Publisher } from "../../../agent/exporters/amqp/publisher.js";
import { topologyNames } from "../../../agent/exporters/amqp/topology.js";
import { BROKER, removeDir, requireBroker, uniquePrefix, waitUntil, watchSocketWrites } from "./env.js";

describe("AMQP publisher", () => {
  let conn: ChannelModel | undefined;
  let dir = "";

  beforeAll(requireBroker);

  afterEach(async () => {
    await conn?.close().catch(() => undefined);
    conn = undefined;
    if (dir) removeDir(dir);
  });

  it("a batch of 40 events reaches the socket in one write, and the broker confirms all of them", async () => {
    const prefix = uniquePrefix();
    dir = mkdtempSync(join(tmpdir(), "vbt-pub-"));
    conn = await connect(BROKER, { noDelay: true });
    const ch = await conn.createConfirmChannel();
    const names = topologyNames(prefix, "h1");
    await ch.assertExchange(names.events, "topic", { durable: false, autoDelete: true });
    const q = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.bindQueue(q, names.events, "ev.h1.#");
    const outbox = Outbox.open(join(dir, "outbox"), 1000);
    const pub = new Publisher(outbox, names, 256, { contentType: "application/json" }, silentLogger());
    pub.attach(ch);

    const writes = watchSocketWrites(ch); // frames per write the socket makes to the kernel

    const recs: NewRecord[] = Array.from({ length: 40 }, (_, i) => ({
      exchange: "events",
      routingKey: "ev.h1.domain.resumed",
      messageId: `m${i}`,
      type: "domain.lifecycle",
      epoch: "e1",
      seq: i + 1,
      time: Date.now(),
      body: JSON.stringify({ seq: i + 1 }),
    }));
    outbox.appendMany(recs);
    pub.pump();
    await waitUntil(() => pub.counters.confirmed === 40, 5000, "40 confirms");
    expect(writes).toEqual([40]);
    const got: number[] = [];
    await ch.consume(q, (m) => m && got.push((JSON.parse(m.content.toString()) as { seq: number }).seq), { noAck: true });
    await waitUntil(() => got.length === 40, 5000, "40 events");
    expect(got).toEqual(recs.map((r) => r.seq));
    outbox.close();
  });
});
