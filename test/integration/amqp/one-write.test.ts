import { connect, type ChannelModel } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { inOneWrite } from "../../../agent/exporters/amqp/connection.js";
import { BROKER, requireBroker, waitUntil, watchSocketWrites } from "./env.js";

describe("inOneWrite", () => {
  let conn: ChannelModel | undefined;

  beforeAll(requireBroker);

  afterEach(async () => {
    await conn?.close().catch(() => undefined);
    conn = undefined;
  });

  it("writes a turn's frames in one write before the event loop moves on, and they arrive in order", async () => {
    conn = await connect(BROKER, { noDelay: true });
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue("", { exclusive: true })).queue;
    const order: string[] = [];
    const writes = watchSocketWrites(ch, () => order.push("write"));

    const written = inOneWrite(ch, () => {
      for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    });
    // amqplib alone would write only in a setImmediate of its own, queued after this one.
    setImmediate(() => order.push("next phase"));
    await written;
    expect(writes).toEqual([3]);
    expect(order[0]).toBe("write");

    const got: string[] = [];
    await ch.consume(q, (m) => m && got.push(m.content.toString()), { noAck: true });
    await waitUntil(() => got.length === 3, 5000, "3 messages");
    expect(got).toEqual(["0", "1", "2"]);
  });

  it("still sends the frames published before publish() threw", async () => {
    conn = await connect(BROKER, { noDelay: true });
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue("", { exclusive: true })).queue;
    expect(() =>
      inOneWrite(ch, () => {
        ch.sendToQueue(q, Buffer.from("sent"));
        throw new Error("boom");
      }),
    ).toThrow("boom");
    const got: string[] = [];
    await ch.consume(q, (m) => m && got.push(m.content.toString()), { noAck: true });
    await waitUntil(() => got.length === 1, 5000, "the message published before the throw");
    expect(got).toEqual(["sent"]);
  });
});
