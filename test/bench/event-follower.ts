/**
 * The event consumer of the send_key-over-the-bus benchmark, in a process of its own as a
 * controller's event service would be: it follows one host's events and only counts them.
 * Run by test/bench/amqp.ts: `node --import tsx test/bench/event-follower.ts <prefix> <hostId>`.
 * Prints "READY" once its queue is bound; on SIGTERM prints "EVENTS <count>" and exits.
 */
import { connect } from "amqplib";
import { BROKER } from "../integration/amqp/env.js";

const [prefix, hostId] = process.argv.slice(2);
if (!prefix || !hostId) throw new Error("usage: event-follower.ts <prefix> <hostId>");
const conn = await connect(BROKER);
const ch = await conn.createChannel();
const q = (await ch.assertQueue("", { exclusive: true })).queue;
await ch.bindQueue(q, `${prefix}.events`, `ev.${hostId}.#`);
let events = 0;
await ch.consume(q, () => void events++, { noAck: true });
process.stdout.write("READY\n");
process.once("SIGTERM", () => {
  void conn.close().finally(() => {
    process.stdout.write(`EVENTS ${events}\n`);
    process.exit(0);
  });
});
