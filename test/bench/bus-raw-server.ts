/**
 * The reference side of the send_key-over-the-bus benchmark, in a process of its own as an
 * agent would be: a bare amqplib RPC server on a quorum queue (the agent's topology) whose
 * every command is one raw QMP `send-key` to a QEMU this process launched with the agent's
 * own argv, then a reply and an ack. No validation, journal, audit or events: what any
 * server relaying send-key over this bus must pay at least.
 *
 * With `contract <prefix> <hostId>` it speaks the bus contract instead (DESIGN.md §4): its
 * queue is bound to the command exchange like an agent's, so FleetClient calls it with the
 * agent's own messages, and it answers on the reply exchange with a reply carrying the
 * agent's properties. It still parses and checks nothing (the command's message_id gives
 * in_reply_to): the difference to the agent is then the agent's own work, not the contract's.
 *
 * Run by test/bench/amqp.ts: `node --import tsx test/bench/bus-raw-server.ts <queue> [contract <prefix> <hostId>]`.
 * Prints "READY" once it serves, stops (QEMU killed, queue deleted) on SIGTERM.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ConsumeMessage } from "amqplib";
import { probeQemu } from "../../agent/drivers/qemu/caps.js";
import { buildCommand } from "../../agent/drivers/qemu/command.js";
import { topologyNames } from "../../agent/exporters/amqp/topology.js";
import * as domainXml from "../../agent/model/domain-xml.js";
import { BROKER } from "../integration/amqp/env.js";
import { listenAt, RawQmp } from "./lib.js";

const QEMU = "/usr/bin/qemu-system-x86_64";
const [queue, mode, prefix, hostId] = process.argv.slice(2);
if (!queue || (mode !== undefined && (mode !== "contract" || !prefix || !hostId))) throw new Error("usage: bus-raw-server.ts <queue> [contract <prefix> <hostId>]");

const dir = mkdtempSync(join(tmpdir(), "vbt-raw-qmp-"));
const caps = await probeQemu(QEMU);
const xml = "<domain type='qemu'><name>raw</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>";
const def = { ...domainXml.parse(xml), uuid: "6c9c2a7e-0c1b-4d39-9a1e-3d1e1b0c0002" };
const { argv } = buildCommand(def, caps, { monitorFd: 3, runDir: dir, tapFds: {} });
const path = join(dir, "raw.qmp");
const server = await listenAt(path);
const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
const qemu = spawn(QEMU, argv, { stdio: ["ignore", "ignore", "inherit", fd] });
server.close();
const qmp = await RawQmp.open(path);
await qmp.execute("cont");

const conn = await connect(BROKER, { noDelay: true });
const ch = await conn.createChannel();
await ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
await ch.prefetch(16);
if (mode === "contract") {
  const names = topologyNames(prefix!, hostId!);
  await ch.bindQueue(queue, names.cmd, names.hostKey);
}
const keys = { keys: [{ type: "qcode", data: "shift" }], "hold-time": 0 };
const reply = mode === "contract" ? contractReply(prefix!, hostId!) : (m: ConsumeMessage) => ch.publish("", m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
await ch.consume(queue, (m) => {
  if (!m) return;
  void qmp.execute("send-key", keys).then(() => {
    reply(m);
    ch.ack(m);
  });
});

/** Binds the queue like an agent's and returns a replier speaking the contract's reply. */
function contractReply(pfx: string, host: string): (m: ConsumeMessage) => void {
  const names = topologyNames(pfx, host);
  const epoch = randomUUID();
  return (m) => {
    const id = String(m.properties.messageId);
    const body = `{"v":1,"in_reply_to":${JSON.stringify(id)},"status":"ok","result":{},"host":${JSON.stringify(host)},"epoch":"${epoch}","seq":0}`;
    ch.publish(names.reply, m.properties.replyTo as string, Buffer.from(body), {
      contentType: "application/json",
      appId: "virtbus-raw",
      userId: "guest",
      messageId: randomUUID(),
      timestamp: Math.floor(Date.now() / 1000),
      type: "command.reply",
      correlationId: id,
    });
  };
}
process.stdout.write("READY\n");

process.once("SIGTERM", () => {
  void (async () => {
    await ch.deleteQueue(queue).catch(() => undefined);
    await conn.close().catch(() => undefined);
    qmp.close();
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  })();
});
