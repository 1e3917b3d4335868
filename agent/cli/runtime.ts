/**
 * What a CLI verb needs: a way to call a command, to subscribe to events, and to print.
 * The local-socket runtime lives here; the bus runtime (`--bus URL`) is in the AMQP client.
 */
import { createConnection, type Socket } from "node:net";
import type { EventEnvelope } from "../core/events.js";
import { ERROR_TABLE, isErrorCode } from "../model/errors.js";
import { LineSplitter, SUBSCRIBE_OP, type LocalError, type LocalEventFrame, type LocalReply } from "../exporters/local/protocol.js";

export interface CliRuntime {
  call(op: string, args: Record<string, unknown>): Promise<unknown>;
  /** Streams events until the returned function is called. */
  subscribe(onEvent: (ev: EventEnvelope) => void): Promise<() => void>;
  close(): Promise<void>;
}

/** An error reply, carried to the top level where it becomes a message and an exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  get exitCode(): number {
    return isErrorCode(this.code) ? ERROR_TABLE[this.code].exit : 1;
  }
}

export class SocketRuntime implements CliRuntime {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(ev: EventEnvelope) => void>();

  private constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    const splitter = new LineSplitter((line) => this.onLine(line));
    sock.on("data", (c: string) => void splitter.push(c));
    sock.on("close", () => this.failAll(new CliError("operation_failed", "connection to the agent closed")));
  }

  static connect(path: string): Promise<SocketRuntime> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      sock.once("connect", () => resolve(new SocketRuntime(sock)));
      sock.once("error", (err: NodeJS.ErrnoException) => {
        const hint = err.code === "ENOENT" || err.code === "ECONNREFUSED" ? " (is virtbusd running? see --socket)" : "";
        reject(new CliError("operation_failed", `cannot connect to ${path}: ${err.message}${hint}`));
      });
    });
  }

  call(op: string, args: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  async subscribe(onEvent: (ev: EventEnvelope) => void): Promise<() => void> {
    this.listeners.add(onEvent);
    await this.call(SUBSCRIBE_OP, {});
    return () => this.listeners.delete(onEvent);
  }

  async close(): Promise<void> {
    this.sock.end();
  }

  private onLine(line: string): void {
    const frame = JSON.parse(line) as LocalReply | LocalEventFrame;
    if ("event" in frame) {
      for (const l of this.listeners) l(frame.event);
      return;
    }
    const p = this.pending.get(frame.id);
    if (!p) return;
    this.pending.delete(frame.id);
    if (frame.ok) p.resolve(frame.result);
    else p.reject(toCliError(frame.error));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

export function toCliError(e: LocalError): CliError {
  return new CliError(e.code, e.message);
}
