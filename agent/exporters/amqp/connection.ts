/**
 * One AMQP connection that keeps itself up: connect, run the caller's setup (declare
 * topology, open channels, start consumers), and on any loss reconnect with exponential
 * backoff and jitter and run the setup again. amqplib's own opt-in recovery does not
 * restore channels or consumers (DESIGN.md §4), so this loop rebuilds everything itself.
 */
import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { connect, type Channel, type ChannelModel, type Options } from "amqplib";
import type { Logger } from "pino";
import type { AgentConfig } from "../../core/config-types.js";
import { AgentError } from "../../model/errors.js";

export type AmqpConfig = AgentConfig["amqp"];

export interface ConnectionSettings {
  target: Options.Connect;
  socket: Record<string, unknown>;
  reconnectMaxMs: number;
  /** For logs: the URL (never holds credentials). */
  display: string;
}

/**
 * Validates the broker URL (no userinfo) and reads the password and TLS files once.
 * @throws AgentError config_unsupported (credentials in the URL), invalid_arg (bad URL or unreadable file)
 */
export function loadConnectionSettings(cfg: Pick<AmqpConfig, "url" | "username" | "password_file" | "tls" | "heartbeat_s" | "reconnect_max_ms">): ConnectionSettings {
  let u: URL;
  try {
    u = new URL(cfg.url);
  } catch {
    throw new AgentError("invalid_arg", "amqp.url: not a URL", { component: "config" });
  }
  if (u.username !== "" || u.password !== "") {
    throw new AgentError("config_unsupported", "amqp.url: credentials in the URL are refused (they leak into logs and ps); use amqp.username and amqp.password_file", { component: "config" });
  }
  if (u.protocol !== "amqp:" && u.protocol !== "amqps:") throw new AgentError("invalid_arg", "amqp.url: scheme must be amqp or amqps", { component: "config" });
  const tls = u.protocol === "amqps:";
  const target: Options.Connect = {
    protocol: u.protocol.slice(0, -1),
    hostname: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port === "" ? (tls ? 5671 : 5672) : Number(u.port),
    vhost: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : "/",
    username: cfg.username,
    password: readPassword(cfg.password_file),
    heartbeat: cfg.heartbeat_s,
  };
  return { target, socket: socketOptions(cfg.tls), reconnectMaxMs: cfg.reconnect_max_ms, display: `${u.protocol}//${u.host}${u.pathname}` };
}

function readPassword(file: string | undefined): string {
  if (file === undefined) return "guest";
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new AgentError("invalid_arg", `amqp.password_file: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`, { component: "config" });
  }
  // amqplib needs a string for SASL PLAIN; the file buffer itself is wiped at once.
  const pw = buf.toString("utf8").replace(/\r?\n$/, "");
  buf.fill(0);
  return pw;
}

function socketOptions(tls: AmqpConfig["tls"]): Record<string, unknown> {
  // Nagle off: without it every RPC reply waits ~40 ms for the delayed ACK (DESIGN.md §4).
  const o: Record<string, unknown> = { noDelay: true, timeout: 10_000 };
  if (!tls) return o;
  const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : readFileSync(f));
  if (tls.ca_file) o["ca"] = [read(tls.ca_file)];
  if (tls.cert_file) o["cert"] = read(tls.cert_file);
  if (tls.key_file) o["key"] = read(tls.key_file);
  if (tls.servername) o["servername"] = tls.servername;
  return o;
}

/** Delay before reconnect attempt `n` (0-based): 200 ms doubling to the cap, times 0.5-1.0 jitter. */
export function backoffMs(n: number, maxMs: number): number {
  return Math.round(Math.min(maxMs, 200 * 2 ** Math.min(n, 20)) * (0.5 + Math.random() * 0.5));
}

export interface ConnectionHooks {
  /** Runs after every (re)connect; a throw closes the connection and retries. */
  onUp(conn: ChannelModel): Promise<void>;
  onDown(): void;
}

export class BusConnection {
  private conn: ChannelModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = false;
  private up = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting in the background; never throws, never waits for the broker. */
  start(): void {
    this.stopped = false;
    void this.tryConnect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const c = this.conn;
    this.conn = undefined;
    this.up = false;
    if (c) await c.close().catch(() => undefined);
  }

  private async tryConnect(): Promise<void> {
    if (this.stopped) return;
    let conn: ChannelModel | undefined;
    try {
      conn = await connect(this.settings.target, this.settings.socket);
      if (this.stopped) return void (await conn.close().catch(() => undefined));
      this.conn = conn;
      conn.on("error", (err: Error) => this.log.warn({ err: { message: err.message } }, "amqp connection error"));
      conn.on("close", () => this.onClose(conn!));
      conn.on("blocked", (reason: string) => this.log.warn({ reason }, "amqp: broker blocked publishing"));
      await this.hooks.onUp(conn);
      this.up = true;
      this.attempt = 0;
      this.log.info({ broker: this.settings.display }, "amqp connected");
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, broker: this.settings.display, attempt: this.attempt }, "amqp connect failed");
      if (conn) await conn.close().catch(() => undefined);
      if (this.conn === conn) this.scheduleReconnect();
    }
  }

  private onClose(conn: ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    const was = this.up;
    this.up = false;
    if (was) this.log.warn({ broker: this.settings.display }, "amqp connection lost");
    this.hooks.onDown();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.conn = undefined;
    clearTimeout(this.timer);
    const delay = backoffMs(this.attempt++, this.settings.reconnectMaxMs);
    this.timer = setTimeout(() => void this.tryConnect(), delay);
  }
}

/**
 * The socket under a channel. amqplib hands each frame to it separately, one write(2) per
 * message, which a batch of events pays per event (about 40 µs each on this 2-vCPU
 * machine); corked, a batch goes out in one writev. This reaches into amqplib's internals
 * (`channel.connection.stream`, unchanged since its 0.x releases); without them nothing is
 * corked and publishing works as before.
 */
export function socketOf(ch: Channel): Writable | undefined {
  const stream = (ch as unknown as { connection?: { stream?: unknown } }).connection?.stream;
  return stream && typeof (stream as Writable).cork === "function" ? (stream as Writable) : undefined;
}

/** amqplib's Mux: it moves frames from each channel's buffer to the socket in a setImmediate of its own. */
interface Muxer {
  _readIncoming(): void;
}

function muxerOf(ch: Channel): Muxer | undefined {
  const mux = (ch as unknown as { connection?: { muxer?: unknown } }).connection?.muxer;
  return mux && typeof (mux as Muxer)._readIncoming === "function" ? (mux as Muxer) : undefined;
}

/**
 * Sends this turn's frames now. A frame amqplib takes goes into its channel's buffer, which
 * announces it on the next tick; amqplib's muxer then moves it to the socket in a
 * setImmediate, after whatever else the event loop has to do first (measured on send_key
 * over the bus: 28 µs at p50 from the reply's publish to its write). Run on a nextTick queued
 * behind those announcements, this moves the frames at once (the muxer's own turn then
 * finds nothing left) and uncorks. Without the muxer (another amqplib) it waits for
 * amqplib's turn as before: a setImmediate queued behind it.
 */
function flushNow(ch: Channel, sock: Writable | undefined, done: () => void): void {
  const mux = muxerOf(ch);
  const flush = (): void => {
    mux?._readIncoming();
    sock?.uncork();
    done();
  };
  process.nextTick(() => (mux ? flush() : setImmediate(flush)));
}

/**
 * Runs `publish` with the channel's socket corked, so every frame it hands amqplib goes out
 * in one writev; resolves once the frames are written and the socket uncorked (flushNow()).
 */
export function inOneWrite(ch: Channel, publish: () => void): Promise<void> {
  const sock = socketOf(ch);
  sock?.cork();
  // Queued after publish()'s frames, or it would uncork before amqplib had them.
  const uncork = (): Promise<void> => new Promise((resolve) => flushNow(ch, sock, resolve));
  try {
    publish();
  } catch (e) {
    void uncork();
    throw e;
  }
  return uncork();
}
