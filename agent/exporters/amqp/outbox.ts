/**
 * Durable on-disk outbox: every event and snapshot is appended here (seq already assigned)
 * before it is published, and stays until the broker confirms it.
 *
 * Layout in <state_dir>/amqp/outbox/: append-only segments `seg-<first pos>.jsonl` (one
 * record a line) and `acked` (the highest position confirmed with nothing unconfirmed
 * before it, replaced atomically). Positions run on across restarts.
 *
 * fsync policy: records are written with write(2) as they come (a crash of the agent
 * process loses nothing: the page cache survives it); the open segment is fsync'ed every
 * 200 ms (when anything was written) and on close, so a host power loss loses at most the
 * last 200 ms of events.
 * `acked` is rewritten at most every 200 ms: after a crash a few confirmed events can be
 * published again, with their original epoch+seq, which consumers dedupe on.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface OutboxRecord {
  pos: number;
  /** "events" or "state": which exchange of the topology. */
  exchange: "events" | "state";
  routingKey: string;
  messageId: string;
  type: string;
  epoch: string;
  seq: number;
  time: number;
  body: string;
}

export type NewRecord = Omit<OutboxRecord, "pos">;

interface Segment {
  first: number;
  last: number;
  path: string;
}

const SEGMENT_RECORDS = 10_000;

export class Outbox {
  private queue: OutboxRecord[] = [];
  private head = 0;
  private cursor = 0;
  private readonly confirmed = new Set<number>();
  private segments: Segment[] = [];
  private fd: number | undefined;
  private acked = 0;
  private nextPos = 1;
  private ackedDirty = false;
  private dropped = 0;
  private written = false;

  private constructor(
    private readonly dir: string,
    private readonly maxEvents: number,
  ) {}

  /** Opens (or creates) the outbox and loads every unconfirmed record, in order. */
  static open(dir: string, maxEvents: number): Outbox {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ob = new Outbox(dir, maxEvents);
    ob.load();
    return ob;
  }

  /** Events not yet confirmed by the broker. */
  get depth(): number {
    return this.queue.length - this.head;
  }

  get droppedCount(): number {
    return this.dropped;
  }

  append(rec: NewRecord): OutboxRecord {
    const full: OutboxRecord = { pos: this.nextPos++, ...rec };
    this.writeRecord(full);
    this.queue.push(full);
    while (this.depth > this.maxEvents) this.dropOldest();
    return full;
  }

  /** The next record to publish, advancing the send cursor. */
  nextUnsent(): OutboxRecord | undefined {
    if (this.cursor < this.head) this.cursor = this.head;
    return this.cursor < this.queue.length ? this.queue[this.cursor++] : undefined;
  }

  /** After a lost channel: everything unconfirmed is sent again, oldest first. */
  rewind(): void {
    this.cursor = this.head;
  }

  confirm(pos: number): void {
    if (pos <= this.acked) return;
    this.confirmed.add(pos);
    while (this.head < this.queue.length && this.confirmed.has(this.queue[this.head]!.pos)) {
      const rec = this.queue[this.head++]!;
      this.confirmed.delete(rec.pos);
      this.acked = rec.pos;
      this.ackedDirty = true;
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) this.compactMemory();
  }

  /** Persists `acked`, deletes fully confirmed segments and fsyncs the open segment. */
  sync(): void {
    if (this.fd !== undefined && this.written) fsyncSync(this.fd);
    this.written = false;
    if (!this.ackedDirty) return;
    this.ackedDirty = false;
    const tmp = join(this.dir, "acked.tmp");
    writeFileSync(tmp, `${this.acked}\n`);
    renameSync(tmp, join(this.dir, "acked"));
    this.pruneSegments();
  }

  close(): void {
    this.sync();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private dropOldest(): void {
    const rec = this.queue[this.head];
    if (!rec) return;
    this.dropped++;
    this.confirm(rec.pos); // it is at the head, so this advances past it
  }

  private compactMemory(): void {
    const shift = this.head;
    this.queue = this.queue.slice(shift);
    this.head = 0;
    this.cursor = Math.max(0, this.cursor - shift);
  }

  private writeRecord(rec: OutboxRecord): void {
    const seg = this.segments.at(-1);
    if (this.fd === undefined || !seg || seg.last - seg.first + 1 >= SEGMENT_RECORDS) this.openSegment(rec.pos);
    writeSync(this.fd!, `${JSON.stringify(rec)}\n`);
    this.written = true;
    this.segments.at(-1)!.last = rec.pos;
  }

  private openSegment(first: number): void {
    if (this.fd !== undefined) {
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
    const path = join(this.dir, `seg-${String(first).padStart(12, "0")}.jsonl`);
    this.fd = openSync(path, "a", 0o600);
    this.segments.push({ first, last: first - 1, path });
  }

  private pruneSegments(): void {
    // The last segment stays open for appends even when fully confirmed.
    while (this.segments.length > 1 && this.segments[0]!.last <= this.acked) {
      unlinkSync(this.segments.shift()!.path);
    }
  }

  private load(): void {
    try {
      this.acked = Number.parseInt(readFileSync(join(this.dir, "acked"), "utf8"), 10) || 0;
    } catch {
      this.acked = 0;
    }
    this.nextPos = this.acked + 1;
    const files = readdirSync(this.dir).filter((f) => /^seg-\d{12}\.jsonl$/.test(f)).sort();
    for (const f of files) this.loadSegment(join(this.dir, f), Number.parseInt(f.slice(4, 16), 10));
    this.pruneSegments();
  }

  private loadSegment(path: string, first: number): void {
    let last = first - 1;
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (line === "") continue;
      let rec: OutboxRecord;
      try {
        rec = JSON.parse(line) as OutboxRecord;
      } catch {
        continue; // a torn last line from a crash mid-write: that event never left the agent
      }
      last = rec.pos;
      this.nextPos = Math.max(this.nextPos, rec.pos + 1);
      if (rec.pos > this.acked) this.queue.push(rec);
    }
    this.segments.push({ first, last, path });
  }
}
