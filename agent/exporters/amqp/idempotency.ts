/**
 * Remembers commands by (user, idempotency_key ?? command_id) ON DISK, so a redelivered or
 * repeated command is answered `duplicate` with the first result instead of running twice,
 * also after an agent restart.
 *
 * Storage: <state_dir>/amqp/idempotency.jsonl, an append-only journal of `begin` and
 * `done` records, replayed into a bounded LRU map at start and compacted when it holds
 * twice the bound: the live entries are written to a new file a chunk per event-loop turn
 * (done at once, a 100,000-entry compaction stalled the agent for 0.8 s), the records
 * journaled meanwhile are appended behind them, and the new file is fsync'ed and renamed
 * over the journal. Until that rename the journal itself has every record.
 *
 * `done` records are buffered and written with the next `begin` (which is written at once)
 * or within DONE_FLUSH_MS: commands issued back to back then cost the journal one write(2)
 * each, not two. They are serialised once the command's reply has gone, so neither that
 * reply nor the next command's `begin` waits for it. An agent that dies in between loses
 * only those outcomes: their commands are answered "outcome unknown" if delivered again,
 * never run twice (see the crash rule).
 *
 * Boots: the journal carries a marker line per host boot ({"boot": id, "after": previous}),
 * written and fsync'ed at open. `hostRestarted` is true for the whole of a boot whose journal
 * came from an earlier one: records that were only in the page cache then may be gone.
 *
 * Volatile commands (send_key, type_text: their effect lives only in the running QEMU
 * process) write their `begin` at once and fsync it in the background (group commit, within
 * `volatileSyncMs`) instead of before running. An agent crash keeps it (the page cache survives the process). A host crash
 * may lose it, but also ends the guest instance the keys went to; the consumer then answers
 * a redelivery of such a command `duplicate` ("outcome unknown") rather than pressing the
 * keys into the guest's next instance, since `hostRestarted` says the record may be lost.
 *
 * Crash rule: a `begin` for a mutating command is fsync'ed (on the thread pool, so other
 * commands keep flowing) before the handler runs. A read-only command writes no `begin`
 * at all and its `done` is not fsync'ed: running one again after a crash is harmless. If the agent dies before `done` is written, a
 * redelivery finds the entry "in progress" from an earlier run and is answered
 * `duplicate` with error `operation_failed` "outcome unknown" instead of running again
 * blindly: the controller checks the guest's state (a snapshot or domain.info) and
 * re-issues with a new command_id if it still wants the change.
 */
import { closeSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ReplyCore } from "./codec.js";

/** How long a `done` record may wait for the next `begin` to share its write. */
export const DONE_FLUSH_MS = 10;

/** Entries a compaction serialises per event-loop turn (a few ms of work). */
export const COMPACT_CHUNK = 2000;

export interface IdemEntry {
  state: "in_progress" | "done";
  reply?: ReplyCore;
  /** Wall-clock ms of the first delivery. */
  at: number;
}

/** How a command's start is recorded (see the file comment). */
export type BeginMode = "memory" | "volatile" | "durable";

export interface IdempotencyOptions {
  /** This host boot's id; read from /proc/sys/kernel/random/boot_id when absent. */
  bootId?: string;
  /** Volatile start records are fsync'ed at most this long after being written (default 200). */
  volatileSyncMs?: number;
}

interface BootMarker {
  boot: string;
  after?: string;
}

/** A compaction under way: the new file, and the records journaled since it began. */
interface Compaction {
  /** The new file (`<journal>.tmp` until the rename) and its fd, opened for appending. */
  tmp: string;
  fd: number;
  /** Serialised records written to the journal since the compaction began. */
  tail: string;
  tailLines: number;
  done: Promise<void>;
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
  /** Journal records not serialised yet (see serialise()). */
  private buf: JournalLine[] = [];
  /** Serialised records not written yet (see flush()). */
  private text = "";
  /** Lines in `text`. */
  private pendingLines = 0;
  private serialiseScheduled = false;
  /** Writes buffered `done` records DONE_FLUSH_MS after the oldest; cleared by any flush. */
  private doneTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** A volatile start record was written after the last fsync began. */
  private unsynced = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private waiting: (() => void)[] = [];
  /** Old fds a background fsync still used when they were retired; closed when none runs. */
  private readonly retired: number[] = [];
  /** The compaction under way (see compact()). */
  private compaction: Compaction | undefined;

  /** This boot's marker, repeated at the head of a compacted journal. */
  private readonly marker: BootMarker;

  private constructor(
    private readonly path: string,
    private readonly max: number,
    bootId: string,
    private readonly volatileSyncMs: number,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const last = this.replay();
    this.fd = openSync(path, "a", 0o600);
    if (last?.boot === bootId) {
      this.marker = last;
    } else {
      // A journal from an earlier boot (or one without markers, whose boot is unknown).
      this.marker = last ? { boot: bootId, after: last.boot } : this.lines > 0 ? { boot: bootId, after: "unknown" } : { boot: bootId };
      writeSync(this.fd, `${JSON.stringify(this.marker)}\n`);
      fsyncSync(this.fd);
    }
  }

  static open(dir: string, max: number, opts: IdempotencyOptions = {}): IdempotencyStore {
    return new IdempotencyStore(join(dir, "idempotency.jsonl"), max, opts.bootId ?? readBootId(), opts.volatileSyncMs ?? 200);
  }

  /** True when this boot's journal came from an earlier boot: unsynced records may be lost. */
  get hostRestarted(): boolean {
    return this.marker.after !== undefined;
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
   * Marks a command as started. `memory` (read-only commands): kept in memory only.
   * `durable`: journaled, and the promise resolves once the record is on disk. `volatile`:
   * journaled (page cache) and fsync'ed in the background. Nothing to wait for (undefined):
   * `memory` and `volatile`, so the command goes on in the same turn.
   */
  begin(key: string, mode: BeginMode): Promise<void> | undefined {
    const entry: IdemEntry = { state: "in_progress", at: Date.now() };
    this.put(key, entry);
    if (mode === "memory") return undefined;
    this.buf.push({ k: key, s: entry.state, at: entry.at });
    this.flush();
    if (mode === "volatile") {
      // Group commit with the outbox's period: one fsync covers every volatile start of the
      // period, instead of a disk flush per key press competing with everything else's.
      this.unsynced = true;
      if (!this.syncTimer) {
        this.syncTimer = setTimeout(() => {
          this.syncTimer = undefined;
          if (!this.flushing && !this.closed) this.syncRound();
        }, this.volatileSyncMs);
        this.syncTimer.unref();
      }
      return undefined;
    }
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
    this.unsynced = false;
    this.flushing = true;
    this.syncing++;
    // A failed fsync leaves the record in the page cache: it still survives an agent crash.
    fsync(this.fd, () => {
      this.flushing = false;
      if (--this.syncing === 0) for (const old of this.retired.splice(0)) closeSync(old);
      for (const resolve of batch) resolve();
      if (this.waiting.length > 0 || (this.unsynced && !this.closed)) this.syncRound();
    });
  }

  finish(key: string, reply: ReplyCore): void {
    const at = this.map.get(key)?.at ?? Date.now();
    this.put(key, { state: "done", reply, at });
    this.write({ k: key, s: "done", r: reply, at });
  }

  close(): void {
    if (this.closed) return;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.flush();
    this.closed = true;
    this.abandonCompaction();
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
    this.buf.push(line);
    if (!this.serialiseScheduled) {
      // After this turn's reply has gone (it is written on the next tick): serialising the
      // record, the command's result included, would otherwise fall to the next command's
      // begin(), on its path to the guest.
      this.serialiseScheduled = true;
      setImmediate(() => this.serialise());
    }
    if (this.doneTimer) return;
    // A timer, not the next turn: a controller's next command usually comes within it, and its
    // start record (begin() flushes first) then carries this record in the same write(2).
    this.doneTimer = setTimeout(() => {
      this.doneTimer = undefined;
      this.flush();
    }, DONE_FLUSH_MS);
    this.doneTimer.unref();
  }

  /** Writes the buffered journal records in one write(2), in order (begin() calls it first). */
  flush(): void {
    // Whatever the timer was for goes now: left running, it would write the next command's
    // `done` early, on its own, instead of with that command's successor's start record.
    clearTimeout(this.doneTimer);
    this.doneTimer = undefined;
    if (this.closed) return;
    this.serialise();
    if (this.text === "") return;
    const text = this.text;
    this.text = "";
    writeSync(this.fd, text);
    if (this.compaction) {
      this.compaction.tail += text;
      this.compaction.tailLines += this.pendingLines;
    } else if (this.lines > 2 * this.max) {
      this.compaction = this.compact();
    }
    this.pendingLines = 0;
  }

  /** Resolves once the compaction under way, if any, has ended. */
  async compacted(): Promise<void> {
    await this.compaction?.done;
  }

  private serialise(): void {
    this.serialiseScheduled = false;
    for (const line of this.buf) this.text += `${JSON.stringify(line)}\n`;
    this.lines += this.buf.length;
    this.pendingLines += this.buf.length;
    this.buf = [];
  }

  /**
   * Rewrites the journal with the live entries, COMPACT_CHUNK per turn, so that commands
   * keep flowing. The map is walked live (no copy of 100,000 entries up front): an entry
   * changed meanwhile may be written twice and one evicted meanwhile not at all, and the
   * records journaled meanwhile are kept as the tail (flush()) and go behind the entries:
   * replayed in that order, the last record of each key wins and gives the same map.
   */
  private compact(): Compaction {
    const tmp = `${this.path}.tmp`;
    rmSync(tmp, { force: true }); // left by a crash mid-compaction
    const fd = openSync(tmp, "a", 0o600);
    const live = this.map.entries();
    let written = 0;
    const c: Compaction = { tmp, fd, tail: "", tailLines: 0, done: Promise.resolve() };
    c.done = new Promise<void>((resolve) => {
      const step = (): void => {
        if (this.compaction !== c) return resolve(); // abandoned (close())
        let text = written === 0 ? `${JSON.stringify(this.marker)}\n` : "";
        let n = 0;
        while (n < COMPACT_CHUNK) {
          const r = live.next();
          if (r.done) break;
          const [k, e] = r.value;
          text += `${JSON.stringify({ k, s: e.state, r: e.reply, at: e.at })}\n`;
          n++;
        }
        try {
          writeSync(fd, text);
        } catch {
          this.abandonCompaction(); // e.g. disk full: the journal is still complete
          return resolve();
        }
        written += n;
        if (n === COMPACT_CHUNK) return void setImmediate(step);
        // The bulk is synced on the thread pool; only the tail is synced here, just before the rename.
        fsync(fd, () => {
          if (this.compaction === c) this.finishCompaction(c, written);
          resolve();
        });
      };
      setImmediate(step);
    });
    return c;
  }

  private finishCompaction(c: Compaction, entries: number): void {
    this.flush(); // whatever is buffered now joins the tail
    this.compaction = undefined;
    try {
      writeSync(c.fd, c.tail);
      fsyncSync(c.fd);
      renameSync(c.tmp, this.path);
    } catch {
      // The journal is untouched and still complete: drop the new file, compact another time.
      closeSync(c.fd);
      rmSync(c.tmp, { force: true });
      return;
    }
    this.retire(this.fd);
    this.fd = c.fd; // opened for appending: it is the journal now
    this.lines = entries + c.tailLines; // the marker is not counted, as in replay()
  }

  private abandonCompaction(): void {
    const c = this.compaction;
    if (!c) return;
    this.compaction = undefined;
    closeSync(c.fd);
    rmSync(c.tmp, { force: true });
  }

  /** Loads the journal's records (counted in `lines`); returns its last boot marker. */
  private replay(): BootMarker | undefined {
    let text = "";
    let last: BootMarker | undefined;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return last;
    }
    for (const raw of text.split("\n")) {
      if (raw === "") continue;
      try {
        const l = JSON.parse(raw) as JournalLine | BootMarker;
        if ("boot" in l) {
          last = l;
          continue;
        }
        this.put(l.k, l.r === undefined ? { state: l.s, at: l.at } : { state: l.s, reply: l.r, at: l.at });
        this.lines++;
      } catch {
        // a torn last line from a crash mid-write: that command's record is simply absent
      }
    }
    return last;
  }
}

/** The kernel's id of the current boot; "unknown" where /proc does not say (never equal across boots). */
export function readBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return `unknown-${Date.now()}`;
  }
}
