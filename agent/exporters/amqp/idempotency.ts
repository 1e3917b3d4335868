/**
 * Remembers commands by (user, idempotency_key ?? command_id) ON DISK, so a redelivered or
 * repeated command is answered `duplicate` with the first result instead of running twice,
 * also after an agent restart.
 *
 * Storage: <state_dir>/amqp/idempotency.jsonl, an append-only journal of `begin` and
 * `done` records, replayed into a bounded LRU map at start and compacted (rewritten with
 * the live entries, fsync'ed, renamed) when it holds twice the bound.
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
import { closeSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ReplyCore } from "./codec.js";

/** How long a `done` record may wait for the next `begin` to share its write. */
export const DONE_FLUSH_MS = 10;

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
    if (this.lines > 2 * this.max) this.compact();
  }

  private serialise(): void {
    this.serialiseScheduled = false;
    for (const line of this.buf) this.text += `${JSON.stringify(line)}\n`;
    this.lines += this.buf.length;
    this.buf = [];
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    writeSync(fd, `${JSON.stringify(this.marker)}\n`);
    for (const [k, e] of this.map) writeSync(fd, `${JSON.stringify({ k, s: e.state, r: e.reply, at: e.at })}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    this.retire(this.fd);
    this.fd = openSync(this.path, "a", 0o600);
    this.lines = this.map.size;
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
