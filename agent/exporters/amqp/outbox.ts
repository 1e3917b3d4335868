/**
 * Durable on-disk outbox: every event and snapshot is appended here (seq already assigned)
 * before it is published, and stays until the broker confirms it.
 *
 * Layout in <state_dir>/amqp/outbox/: append-only segments `seg-<first pos>.jsonl` (one
 * record a line) and `acked` (the highest position confirmed with nothing unconfirmed
 * before it, replaced atomically). Positions run on across restarts.
 *
 * fsync policy (group commit): records are written with write(2) before they are published
 * (appendMany() writes a whole batch in one call), so a crash of the agent process loses
 * nothing: the page cache survives it. The open segment is fsync'ed every `outbox_fsync_ms`
 * (default 200; when anything was written) and on close. The fsync runs on libuv's thread
 * pool, never on the event loop: a slow disk must not stall command replies. So a host
 * power loss can lose the events of the last fsync period that the broker had not yet
 * confirmed (one it confirmed is safe on the broker). Nothing else is lost.
 * `acked` is rewritten at the same period: after a crash a few confirmed events can be
 * published again, with their original epoch+seq, which consumers dedupe on.
 */
import { close as closeAsync, closeSync, fsync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rename, renameSync, unlinkSync, writeFile, writeFileSync, writeSync } from "node:fs";
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
  /** fsyncs running on the thread pool; close() waits for them before closing the fd. */
  private syncing = 0;
  private closeAfterSync: number | undefined;
  private ackedWriting = false;
  private closed = false;

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
    return this.appendMany([rec])[0]!;
  }

  /** Appends records in order with one write(2) per segment touched. */
  appendMany(recs: readonly NewRecord[]): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    let lines: string[] = [];
    for (const rec of recs) {
      const full: OutboxRecord = { pos: this.nextPos++, ...rec };
      if (this.needsNewSegment()) {
        this.flushLines(lines);
        lines = [];
        this.openSegment(full.pos);
      }
      lines.push(encodeRecord(full));
      this.segments.at(-1)!.last = full.pos;
      out.push(full);
    }
    this.flushLines(lines);
    for (const full of out) this.queue.push(full);
    while (this.depth > this.maxEvents) this.dropOldest();
    return out;
  }

  /** Whether a record is waiting to be published. */
  hasUnsent(): boolean {
    return Math.max(this.cursor, this.head) < this.queue.length;
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

  /** Persists `acked`, deletes fully confirmed segments and starts an fsync of the open segment. */
  sync(): void {
    if (this.fd !== undefined && this.written) this.fsyncInBackground(this.fd, false);
    this.written = false;
    this.persistAckedInBackground();
  }

  close(): void {
    this.closed = true;
    if (this.fd !== undefined) {
      fsyncSync(this.fd);
      this.written = false;
      // A background fsync still holds this fd: let its callback close it instead.
      if (this.syncing === 0) closeSync(this.fd);
      else this.closeAfterSync = this.fd;
    }
    this.fd = undefined;
    this.persistAcked();
  }

  private fsyncInBackground(fd: number, thenClose: boolean): void {
    this.syncing++;
    fsync(fd, () => {
      this.syncing--;
      if (thenClose) closeAsync(fd, () => undefined);
      if (this.syncing === 0 && this.closeAfterSync !== undefined) {
        closeAsync(this.closeAfterSync, () => undefined);
        this.closeAfterSync = undefined;
      }
    });
  }

  private persistAcked(): void {
    if (!this.ackedDirty) return;
    this.ackedDirty = false;
    const tmp = join(this.dir, "acked.tmp");
    writeFileSync(tmp, `${this.acked}\n`);
    renameSync(tmp, join(this.dir, "acked"));
    this.pruneSegments();
  }

  /** Like persistAcked() but off the event loop; close() supersedes one still running. */
  private persistAckedInBackground(): void {
    if (!this.ackedDirty || this.ackedWriting) return;
    this.ackedDirty = false;
    this.ackedWriting = true;
    const tmp = join(this.dir, "acked.bg.tmp");
    writeFile(tmp, `${this.acked}\n`, (err) => {
      if (err || this.closed) return void (this.ackedWriting = false);
      rename(tmp, join(this.dir, "acked"), () => {
        this.ackedWriting = false;
        if (!this.closed) this.pruneSegments();
      });
    });
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

  private needsNewSegment(): boolean {
    const seg = this.segments.at(-1);
    return this.fd === undefined || !seg || seg.last - seg.first + 1 >= SEGMENT_RECORDS;
  }

  private flushLines(lines: string[]): void {
    if (lines.length === 0) return;
    writeSync(this.fd!, `${lines.join("\n")}\n`);
    this.written = true;
  }

  private openSegment(first: number): void {
    // The full segment is fsync'ed and closed off the event loop.
    if (this.fd !== undefined) this.fsyncInBackground(this.fd, true);
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
        rec = decodeRecord(line);
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

/**
 * One line per record: the header as JSON with the (already JSON) body embedded raw under
 * "b" rather than as an escaped string: half the bytes to encode for a burst of events.
 */
function encodeRecord(r: OutboxRecord): string {
  const { body, ...head } = r;
  return `${JSON.stringify(head).slice(0, -1)},"b":${body}}`;
}

function decodeRecord(line: string): OutboxRecord {
  const o = JSON.parse(line) as Omit<OutboxRecord, "body"> & { b?: unknown; body?: string };
  const { b, body, ...head } = o;
  // "body" (a string) is the format of earlier versions, still readable.
  return { ...head, body: body ?? JSON.stringify(b) };
}
