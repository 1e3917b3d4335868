/**
 * The reference side of the send_key-over-the-bus benchmark, in a process of its own as an
 * agent would be: a bare amqplib RPC server on a quorum queue (the agent's topology) whose
 * every command is one raw QMP `send-key` to a QEMU this process launched with the agent's
 * own argv, then a reply and an ack. No validation, journal, audit or events: what any
 * server relaying send-key over this bus must pay at least.
 *
 * Run by test/bench/amqp.ts: `node --import tsx test/bench/bus-raw-server.ts <queue>`.
 * Prints "READY" once it serves, stops (QEMU killed, queue deleted) on SIGTERM.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "amqplib";
import { probeQemu } from "../../agent/drivers/qemu/caps.js";
import { buildCommand } from "../../agent/drivers/qemu/command.js";
import * as domainXml from "../../agent/model/domain-xml.js";
import { BROKER } from "../integration/amqp/env.js";
import { listenAt, RawQmp } from "./lib.js";

const QEMU = "/usr/bin/qemu-system-x86_64";
const queue = process.argv[2];
if (!queue) throw new Error("usage: bus-raw-server.ts <queue>");

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
const keys = { keys: [{ type: "qcode", data: "shift" }], "hold-time": 0 };
await ch.consume(queue, (m) => {
  if (!m) return;
  void qmp.execute("send-key", keys).then(() => {
    ch.publish("", m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
    ch.ack(m);
  });
});
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
