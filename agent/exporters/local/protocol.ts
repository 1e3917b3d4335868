/**
 * The CLI socket's wire format: one JSON object per line in each direction.
 * Requests: {id, op, args}. Replies: {id, ok, result?, error?}. The pseudo-op
 * "events.subscribe" turns the connection into an event stream of {event}.
 */
import type { EventEnvelope } from "../../core/events.js";

export interface LocalRequest {
  id: number;
  op: string;
  args?: unknown;
  deadline?: number;
}

export interface LocalError {
  code: string;
  message: string;
  component?: string;
  retryable?: boolean;
}

export type LocalReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: LocalError };

export interface LocalEventFrame {
  event: EventEnvelope;
}

export const SUBSCRIBE_OP = "events.subscribe";
/** A request line longer than this closes the connection (domain XML is at most 1 MiB). */
export const MAX_LINE_BYTES = 2 * 1024 * 1024;

/** Splits a byte stream into lines; returns false when a line is over the limit. */
export class LineSplitter {
  private buf = "";

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): boolean {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() !== "") this.onLine(line);
    }
    return this.buf.length <= MAX_LINE_BYTES;
  }
}
