/**
 * Remembers commands by (user, idempotency_key ?? command_id) ON DISK, so a redelivered or
 * repeated command is answered `duplicate` with the first result instead of running twice,
 * also after an agent restart.
 *
 * Storage: <state_dir>/amqp/idempotency.jsonl, an append-only journal of `begin` and
 * `done` records, replayed into a bounded LRU map at start and compacted (rewritten with
 * the live entries, fsync'ed, renamed) when it holds twice the bound.
 *
 * `done` records are written once per event-loop turn, after the turn's replies went out
 * (one write(2) for every command finished in the turn); a `begin` is written at once.
 *
 * Crash rule: a `begin` for a mutating command is fsync'ed (on the thread pool, so other
 * commands keep flowing) before the handler runs. A read-only command writes no `begin`
 * at all and its `done` is not fsync'ed: running one again after a crash is harmless. If the agent dies before `done` is written, a
 * redelivery finds the entry "in progress" from an earlier run and is answered
 * `duplicate` with error `operation_failed` "outcome unknown" instead of running again
 * blindly: the controller checks the guest's state (a snapshot or domain.info) and
 * re-issues with a new command_id if it still wants the change.
 */
import { closeSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ReplyCore } from "./codec.js";

export interface IdemEntry {
  state: "in_progress" | "done";
  reply?: ReplyCore;
  /** Wall-clock ms of the first delivery. */
  at: number;
}

interface JournalLine {
  k: string;
  s: IdemEntry["state"];
  r?: ReplyCore;
  at: number;
}

export class IdempotencyStore {
  private readonly map = new Map<string, IdemEntry>();
  private fd: number;
  private lines = 0;
  private syncing = 0;
  /** Journal lines not yet written (see flushLines()). */
  private buf: string[] = [];
  private bufScheduled = false;
  private closed = false;
  private flushing = false;
  private waiting: (() => void)[] = [];
  /** Old fds a background fsync still used when they were retired; closed when none runs. */
  private readonly retired: number[] = [];

  private constructor(
    private readonly path: string,
    private readonly max: number,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.replay();
    this.fd = openSync(path, "a", 0o600);
  }

  static open(dir: string, max: number): IdempotencyStore {
    return new IdempotencyStore(join(dir, "idempotency.jsonl"), max);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): IdemEntry | undefined {
    const e = this.map.get(key);
    if (e) {
      this.map.delete(key); // LRU: a hit moves to the young end
      this.map.set(key, e);
    }
    return e;
  }

  /**
   * Marks a command as started. `durable` (mutating commands): the record is journaled and
   * the promise resolves once it is on disk. Otherwise it is kept in memory only.
   */
  begin(key: string, durable: boolean): Promise<void> {
    const entry: IdemEntry = { state: "in_progress", at: Date.now() };
    this.put(key, entry);
    if (!durable) return Promise.resolve();
    this.write({ k: key, s: entry.state, at: entry.at });
    this.flushLines();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.flushing) this.syncRound();
    });
  }

  /**
   * Group commit: one fsync covers every begin written before it started; begins written
   * while it runs share the next one. Commands running in parallel on different guests
   * then cost one fsync per round, not one each.
   */
  private syncRound(): void {
    const batch = this.waiting.splice(0);
    this.flushing = true;
    this.syncing++;
    // A failed fsync leaves the record in the page cache: it still survives an agent crash.
    fsync(this.fd, () => {
      this.flushing = false;
      if (--this.syncing === 0) for (const old of this.retired.splice(0)) closeSync(old);
      for (const resolve of batch) resolve();
      if (this.waiting.length > 0) this.syncRound();
    });
  }

  finish(key: string, reply: ReplyCore): void {
    const at = this.map.get(key)?.at ?? Date.now();
    this.put(key, { state: "done", reply, at });
    this.write({ k: key, s: "done", r: reply, at });
  }

  close(): void {
    if (this.closed) return;
    this.flushLines();
    this.closed = true;
    fsyncSync(this.fd);
    this.retire(this.fd);
  }

  private retire(fd: number): void {
    if (this.syncing === 0) closeSync(fd);
    else this.retired.push(fd); // a background fsync still holds it
  }

  private put(key: string, e: IdemEntry): void {
    this.map.delete(key);
    this.map.set(key, e);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  private write(line: JournalLine): void {
    this.buf.push(`${JSON.stringify(line)}\n`);
    if (this.bufScheduled) return;
    this.bufScheduled = true;
    setImmediate(() => this.flushLines());
  }

  /** Writes buffered journal lines now (the consumer calls it before acking a command). */
  flush(): void {
    this.flushLines();
  }

  /** Writes the buffered journal lines in one write(2) (in order: begin() flushes first). */
  private flushLines(): void {
    this.bufScheduled = false;
    if (this.buf.length === 0 || this.closed) return;
    const text = this.buf.join("");
    this.lines += this.buf.length;
    this.buf = [];
    writeSync(this.fd, text);
    if (this.lines > 2 * this.max) this.compact();
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    for (const [k, e] of this.map) writeSync(fd, `${JSON.stringify({ k, s: e.state, r: e.reply, at: e.at })}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    this.retire(this.fd);
    this.fd = openSync(this.path, "a", 0o600);
    this.lines = this.map.size;
  }

  private replay(): void {
    let text = "";
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return;
    }
    for (const raw of text.split("\n")) {
      if (raw === "") continue;
      try {
        const l = JSON.parse(raw) as JournalLine;
        this.put(l.k, l.r === undefined ? { state: l.s, at: l.at } : { state: l.s, reply: l.r, at: l.at });
        this.lines++;
      } catch {
        // a torn last line from a crash mid-write: that command's record is simply absent
      }
    }
  }
}
