/**
 * A QMP client over a unix socket. QMP is line-delimited JSON: a greeting, then
 * `qmp_capabilities` to leave negotiation mode, then commands whose replies carry the
 * `id` we sent (so several may be in flight) interleaved with asynchronous events.
 */
import { connect, type Socket } from "node:net";
import type { Logger } from "pino";
import { AgentError } from "../../model/errors.js";

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** QEMU's wall-clock time of the event, in ms. */
  timeMs: number;
}

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

export interface QmpOptions {
  /** Default per-command timeout; also bounds the greeting. */
  timeoutMs: number;
  log?: Logger;
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: AgentError) => void;
  timer: NodeJS.Timeout;
}

type Message = Record<string, unknown>;

export class QmpClient {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  /** Ids of commands that timed out and that QEMU has not answered yet (id -> command). */
  private readonly unanswered = new Map<string, string>();
  private readonly eventHandlers: Array<(ev: QmpEvent) => void> = [];
  private readonly closeHandlers: Array<(err?: Error) => void> = [];
  private greetingWaiter?: { resolve: (g: QmpGreeting) => void; reject: (e: AgentError) => void };
  private isClosed = false;
  private localClose = false;
  private closeError?: Error;

  private constructor(
    private readonly sock: Socket,
    private readonly opts: QmpOptions,
    private readonly path: string,
  ) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.onData(chunk));
    sock.on("error", (err) => {
      this.closeError = err;
    });
    sock.on("close", () => this.handleClose());
  }

  /**
   * Connects to `path`, waits for the greeting and negotiates capabilities.
   * @throws AgentError operation_failed (cannot connect, EOF) or operation_timeout.
   */
  static async connect(path: string, opts: QmpOptions): Promise<QmpClient> {
    const sock = connect({ path });
    const client = new QmpClient(sock, opts, path);
    try {
      client.greeting = await client.waitGreeting();
      await client.execute("qmp_capabilities");
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  greeting?: QmpGreeting;

  get closed(): boolean {
    return this.isClosed;
  }

  /** True when close() ended the connection (detach), false for EOF or an error from QEMU's side. */
  get closedLocally(): boolean {
    return this.localClose;
  }

  /**
   * Commands sent and not answered yet, including those whose caller already got
   * operation_timeout. QEMU answers in order on one monitor, so a non-zero `timedOut`
   * means anything sent now queues behind a command QEMU is still stuck on.
   */
  get outstanding(): { pending: number; timedOut: number } {
    return { pending: this.pending.size, timedOut: this.unanswered.size };
  }

  /** True while an earlier command timed out and QEMU has still not answered it. */
  get busy(): boolean {
    return this.unanswered.size > 0;
  }

  /** Called for every asynchronous event, in arrival order. */
  onEvent(fn: (ev: QmpEvent) => void): void {
    this.eventHandlers.push(fn);
  }

  /** Called once when the connection ends (EOF, error or close()). */
  onClose(fn: (err?: Error) => void): void {
    if (this.isClosed) queueMicrotask(() => fn(this.closeError));
    else this.closeHandlers.push(fn);
  }

  /**
   * Runs one QMP command and resolves with its `return` value.
   * @throws AgentError operation_failed (QMP error, with QEMU's desc; connection lost)
   *   or operation_timeout (no reply within the timeout; the command stays counted in
   *   `outstanding.timedOut` until its late reply arrives, which is then discarded).
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.opts.timeoutMs): Promise<T> {
    if (this.isClosed) return Promise.reject(this.lostError(command));
    const id = `vb-${this.nextId++}`;
    const msg: Message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.unanswered.set(id, command);
        reject(new AgentError("operation_timeout", `QMP command ${command} got no reply within ${timeoutMs} ms`, { component: "qemu" }));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.opts.log?.debug({ qmp: msg }, "qmp send");
      this.sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Closes the connection; pending commands are rejected. QEMU keeps running. */
  close(): void {
    if (!this.isClosed) this.localClose = true;
    if (!this.sock.destroyed) this.sock.destroy();
    else this.handleClose();
  }

  private waitGreeting(): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new AgentError("operation_timeout", `no QMP greeting on ${this.path} within ${this.opts.timeoutMs} ms`, { component: "qemu" }));
      }, this.opts.timeoutMs);
      this.greetingWaiter = {
        resolve: (g) => (clearTimeout(timer), resolve(g)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line.length > 0) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: Message;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      msg = parsed as Message;
    } catch {
      this.opts.log?.warn({ line: line.slice(0, 200) }, "unparsable QMP line ignored");
      return;
    }
    this.opts.log?.debug({ qmp: msg }, "qmp recv");
    if ("QMP" in msg) this.onGreeting(msg.QMP as QmpGreeting);
    else if ("event" in msg) this.onEventMsg(msg);
    else if ("return" in msg || "error" in msg) this.onReply(msg);
  }

  private onGreeting(g: QmpGreeting): void {
    this.greetingWaiter?.resolve(g);
    this.greetingWaiter = undefined;
  }

  private onEventMsg(msg: Message): void {
    const ts = msg.timestamp as { seconds?: number; microseconds?: number } | undefined;
    const timeMs = ts?.seconds !== undefined ? ts.seconds * 1000 + Math.floor((ts.microseconds ?? 0) / 1000) : Date.now();
    const ev: QmpEvent = { event: String(msg.event), data: (msg.data as Record<string, unknown>) ?? {}, timeMs };
    for (const fn of this.eventHandlers) {
      try {
        fn(ev);
      } catch (err) {
        this.opts.log?.error({ err, event: ev.event }, "QMP event handler failed");
      }
    }
  }

  private onReply(msg: Message): void {
    const id = typeof msg.id === "string" ? msg.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) {
      // A late reply to a command that timed out: consumed here, never handed to another caller.
      const late = id !== undefined && this.unanswered.delete(id);
      this.opts.log?.debug({ id, late }, late ? "late QMP reply discarded" : "QMP reply for no pending command");
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ("error" in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(new AgentError("operation_failed", `QMP ${p.command} failed: ${e.desc ?? "unknown error"}`, { component: "qemu", details: { qmpClass: e.class } }));
    } else {
      p.resolve(msg.return);
    }
  }

  private handleClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = this.lostError("greeting");
    this.greetingWaiter?.reject(err);
    this.greetingWaiter = undefined;
    this.unanswered.clear();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(this.lostError(p.command));
    }
    for (const fn of this.closeHandlers.splice(0)) fn(this.closeError);
  }

  private lostError(command: string): AgentError {
    const why = this.closeError ? `: ${this.closeError.message}` : "";
    return new AgentError("operation_failed", `QMP connection ${this.path} closed before ${command} completed${why}`, { component: "qemu", cause: this.closeError });
  }
}
