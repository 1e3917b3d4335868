/**
 * Shared setup for the bus tests: the machine's RabbitMQ (guest/guest on loopback), a
 * unique prefix per test, an agent over the fake driver, a TCP proxy the test can cut,
 * and cleanup of everything they declared.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { connect, type Channel } from "amqplib";
import { createRootLogger, silentLogger, type Logger } from "../../../agent/core/log.js";
import type { PolicyConfig } from "../../../agent/control/policy.js";
import { socketOf } from "../../../agent/exporters/amqp/connection.js";
import { AmqpExporter } from "../../../agent/exporters/amqp/exporter.js";
import type { AmqpConfig } from "../../../agent/exporters/amqp/connection.js";
import { deleteTopology, topologyNames } from "../../../agent/exporters/amqp/topology.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";

export const BROKER = "amqp://127.0.0.1:5672/";

/** Fails (never skips) with the package name when the broker is not there. */
export async function requireBroker(): Promise<void> {
  try {
    const c = await connect(BROKER);
    await c.close();
  } catch (e) {
    throw new Error(`RabbitMQ is not reachable at 127.0.0.1:5672 as guest/guest (${(e as Error).message}); install and start Debian package rabbitmq-server`);
  }
}

export function uniquePrefix(): string {
  return `vbt-${Math.random().toString(36).slice(2, 10)}`;
}

export function amqpConfig(prefix: string, url = BROKER, over: Partial<AmqpConfig> = {}): AmqpConfig {
  return {
    enabled: true,
    url,
    username: "guest",
    prefix,
    concurrency: 16,
    heartbeat_s: 5,
    snapshot_interval_s: 0,
    heartbeat_interval_s: 0,
    outbox_max_events: 100_000,
    confirm_window: 256,
    outbox_fsync_ms: 200,
    idempotency_max: 100_000,
    volatile_sync: "background",
    reconnect_max_ms: 500,
    ...over,
  };
}

export interface Agent {
  h: Harness;
  exporter: AmqpExporter;
  stateDir: string;
}

/** A debug-level logger (with the agent's redaction) whose JSON lines the test can read. */
export function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createRootLogger("debug", {}, { write: (s: string) => void lines.push(s) });
  return { log, lines };
}

export async function startAgent(o: { prefix: string; url?: string; stateDir?: string; policy?: PolicyConfig; hostId?: string; demoDomains?: number; cfg?: Partial<AmqpConfig>; log?: Logger; bootId?: string }): Promise<Agent> {
  const policy = o.policy ?? { roles: {}, users: { guest: ["admin"], local: ["admin"] } };
  const h = await makeHarness({ policy, hostId: o.hostId ?? "h1", demoDomains: o.demoDomains ?? 1 });
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), "vbt-amqp-"));
  const exporter = new AmqpExporter({ services: h.services, dispatcher: h.dispatcher, config: amqpConfig(o.prefix, o.url, o.cfg), stateDir, log: o.log ?? silentLogger(), ...(o.bootId === undefined ? {} : { bootId: o.bootId }) });
  await exporter.start();
  return { h, exporter, stateDir };
}

export async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function cleanupTopology(prefix: string, hosts: string[]): Promise<void> {
  const c = await connect(BROKER);
  c.on("error", () => undefined);
  for (const host of hosts) {
    const ch = await c.createChannel();
    await deleteTopology(ch, topologyNames(prefix, host)).catch(() => undefined);
    await ch.close().catch(() => undefined);
  }
  await c.close();
}

/**
 * Watches the writes a channel's socket makes to the kernel, without changing them: returns
 * the number of frames of each write, in order; `onWrite` runs at each write.
 * @throws when the channel's socket cannot be reached
 */
export function watchSocketWrites(ch: Channel, onWrite: () => void = () => undefined): number[] {
  const sock = socketOf(ch) as (Writable & { _write: Writable["_write"]; _writev?: Writable["_writev"] }) | undefined;
  if (!sock) throw new Error("the channel's socket is not reachable (amqplib internals changed?)");
  const writes: number[] = [];
  const write1 = sock._write.bind(sock);
  const writev = sock._writev?.bind(sock);
  sock._write = (chunk, enc, cb) => (writes.push(1), onWrite(), write1(chunk, enc, cb));
  if (writev) sock._writev = (chunks, cb) => (writes.push(chunks.length), onWrite(), writev(chunks, cb));
  return writes;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A TCP proxy on 127.0.0.1 in front of the broker that the test can sever and restore. */
export class CutProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `amqp://127.0.0.1:${this.port}/`;
  }

  /** Drops every connection and refuses new ones. */
  async sever(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  async restore(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server?.listening) await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private pipe(client: Socket): void {
    const upstream = createConnection(5672, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
