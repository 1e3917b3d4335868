import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Outbox, type NewRecord } from "../../../../agent/exporters/amqp/outbox.js";
import { COMPACT_CHUNK, DONE_FLUSH_MS, IdempotencyStore } from "../../../../agent/exporters/amqp/idempotency.js";
import { parseCommand, commandArgs, brokerDeadline } from "../../../../agent/exporters/amqp/codec.js";
import { AgentError } from "../../../../agent/model/errors.js";
import { loadConnectionSettings } from "../../../../agent/exporters/amqp/connection.js";

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "vbt-ob-"));
  dirs.push(d);
  return d;
};
const rec = (seq: number): NewRecord => ({ exchange: "events", routingKey: "ev.h.x", messageId: `m${seq}`, type: "t", epoch: "e", seq, time: 0, body: "{}" });

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the on-disk outbox", () => {
  it("unconfirmed records survive a reopen, in order, and confirmed ones do not come back", () => {
    const dir = tmp();
    const ob = Outbox.open(dir, 1000);
    const recs = [1, 2, 3, 4].map((s) => ob.append(rec(s)));
    ob.confirm(recs[0]!.pos);
    ob.confirm(recs[2]!.pos); // out of order: 3 waits for 2
    ob.close();
    const again = Outbox.open(dir, 1000);
    expect(again.depth).toBe(3);
    expect([again.nextUnsent()?.seq, again.nextUnsent()?.seq, again.nextUnsent()?.seq]).toEqual([2, 3, 4]);
    again.close();
  });

  it("rewind sends every unconfirmed record again from the oldest", () => {
    const ob = Outbox.open(tmp(), 1000);
    for (const s of [1, 2, 3]) ob.append(rec(s));
    ob.nextUnsent();
    ob.confirm(ob.nextUnsent()!.pos - 1);
    ob.rewind();
    expect(ob.nextUnsent()?.seq).toBe(2);
    ob.close();
  });

  it("past its bound the oldest records are dropped and counted", () => {
    const ob = Outbox.open(tmp(), 100);
    for (let s = 1; s <= 150; s++) ob.append(rec(s));
    expect(ob.depth).toBe(100);
    expect(ob.droppedCount).toBe(50);
    expect(ob.nextUnsent()?.seq).toBe(51);
    ob.close();
  });

  it("a batch crossing a segment boundary is stored in order across both segments and reloads whole", () => {
    const dir = tmp();
    const ob = Outbox.open(dir, 100_000);
    const body = (s: number): string => JSON.stringify({ seq: s, text: 'quote " and \\ backslash' });
    ob.appendMany(Array.from({ length: 10_050 }, (_, i) => ({ ...rec(i + 1), body: body(i + 1) })));
    ob.sync(); // starts a background fsync: close() must still work while it runs
    ob.close();
    expect(readdirSync(dir).filter((f) => f.startsWith("seg-"))).toHaveLength(2);
    const again = Outbox.open(dir, 100_000);
    expect(again.depth).toBe(10_050);
    for (let s = 1; s <= 10_050; s++) {
      const r = again.nextUnsent()!;
      expect([r.seq, r.body]).toEqual([s, body(s)]);
    }
    again.close();
  });

  it("lines written by the earlier format (body as an escaped string) still load", () => {
    const dir = tmp();
    const old = { pos: 1, ...rec(7), body: JSON.stringify({ a: "x" }) };
    writeFileSync(join(dir, "seg-000000000001.jsonl"), `${JSON.stringify(old)}\n`);
    const ob = Outbox.open(dir, 100);
    expect(ob.nextUnsent()).toEqual(old);
    ob.close();
  });
});

/** The journal's command records (boot markers left out). */
function journalRecords(dir: string): { k: string; s: string }[] {
  const lines = readFileSync(join(dir, "idempotency.jsonl"), "utf8").split("\n").filter(Boolean);
  return lines.map((l) => JSON.parse(l) as { k?: string; s: string }).filter((l): l is { k: string; s: string } => l.k !== undefined);
}

describe("the idempotency journal", () => {
  it("remembers finished and in-progress commands across a reopen", () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 1000);
    s.begin("a", "durable");
    s.finish("a", { status: "ok", result: { x: 1 } });
    s.begin("b", "durable");
    s.close();
    const again = IdempotencyStore.open(dir, 1000);
    expect(again.get("a")).toMatchObject({ state: "done", reply: { status: "ok", result: { x: 1 } } });
    expect(again.get("b")?.state).toBe("in_progress");
    again.close();
  });

  it("journals a mutating command's start before resolving but keeps a read-only one in memory only", async () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 1000);
    await s.begin("mut", "durable");
    await s.begin("ro", "memory");
    expect(s.get("ro")?.state).toBe("in_progress");
    const journal = readFileSync(join(dir, "idempotency.jsonl"), "utf8");
    expect(journal).toContain('"k":"mut"');
    expect(journal).not.toContain('"k":"ro"');
    s.finish("ro", { status: "ok" });
    s.close();
    const again = IdempotencyStore.open(dir, 1000);
    expect(again.get("mut")?.state).toBe("in_progress");
    expect(again.get("ro")?.state).toBe("done");
    again.close();
  });

  it("a hundred mutating commands starting at once all resolve with every start record journaled", async () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 1000);
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.begin(`p${i}`, "durable")));
    await s.begin("after", "durable"); // a new round starts once the shared ones are done
    const keys = journalRecords(dir).map((l) => l.k);
    expect(keys).toEqual([...Array.from({ length: 100 }, (_, i) => `p${i}`), "after"]);
    s.close();
  });

  it("writes finished records on flush(), ahead of a later start record, and on a timer, never in this turn's setImmediate", async () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 1000);
    const journalKeys = (): string[] => journalRecords(dir).map((l) => l.k);
    s.finish("r1", { status: "ok" });
    s.finish("r2", { status: "ok" });
    expect(journalKeys()).toEqual([]); // buffered: nothing written inside the turn
    expect(s.get("r1")?.state).toBe("done"); // but already answered from memory
    s.flush();
    expect(journalKeys()).toEqual(["r1", "r2"]);
    s.finish("r3", { status: "ok" });
    await s.begin("m", "durable"); // a start record goes to disk at once, after what was buffered
    expect(journalKeys()).toEqual(["r1", "r2", "r3", "m"]);
    s.finish("r4", { status: "ok" });
    // not in a setImmediate: that would run before amqplib's, which writes the reply
    await new Promise((r) => setImmediate(r));
    expect(journalKeys()).toEqual(["r1", "r2", "r3", "m"]);
    await new Promise((r) => setTimeout(r, DONE_FLUSH_MS + 5));
    expect(journalKeys()).toEqual(["r1", "r2", "r3", "m", "r4"]);
    s.close();
    s.finish("late", { status: "ok" }); // after close: kept in memory, never written to a closed fd
    await new Promise((r) => setTimeout(r, DONE_FLUSH_MS + 5));
    expect(journalKeys()).not.toContain("late");
  });

  it("a finished record waits its own flush delay: a start record's write also cancels the timer of the records it took along", () => {
    vi.useFakeTimers();
    try {
      const dir = tmp();
      const s = IdempotencyStore.open(dir, 1000);
      const journalKeys = (): string[] => journalRecords(dir).map((l) => l.k);
      s.finish("a", { status: "ok" });
      vi.advanceTimersByTime(DONE_FLUSH_MS - 4);
      s.begin("b", "volatile"); // takes "a" along
      s.finish("c", { status: "ok" });
      vi.advanceTimersByTime(6); // past a's timer: c must still wait for the next start record
      expect(journalKeys()).toEqual(["a", "b"]);
      vi.advanceTimersByTime(DONE_FLUSH_MS - 6);
      expect(journalKeys()).toEqual(["a", "b", "c"]);
      s.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("marks each boot: a reopen on the same boot is no host restart, a journal from another boot is one for the whole new boot, also after compaction", () => {
    const dir = tmp();
    expect(IdempotencyStore.open(tmp(), 100, { bootId: "b1" }).hostRestarted).toBe(false); // a fresh journal
    const s = IdempotencyStore.open(dir, 100, { bootId: "b1" });
    s.finish("x", { status: "ok" });
    s.close();
    const same = IdempotencyStore.open(dir, 100, { bootId: "b1" });
    expect(same.hostRestarted).toBe(false);
    same.close();
    const next = IdempotencyStore.open(dir, 100, { bootId: "b2" });
    expect(next.hostRestarted).toBe(true);
    expect(next.get("x")?.state).toBe("done"); // what was synced is still answered
    for (let i = 0; i < 500; i++) next.finish(`k${i}`, { status: "ok" }); // forces a compaction
    next.close();
    const later = IdempotencyStore.open(dir, 100, { bootId: "b2" }); // an agent restart later on b2
    expect(later.hostRestarted).toBe(true);
    later.close();
  });

  it("a volatile start is in the journal at once and does not wait for its fsync; a durable one does", async () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 1000, { bootId: "b1" });
    expect(s.begin("v", "volatile")).toBeUndefined(); // nothing to wait for
    expect(journalRecords(dir).map((l) => l.k)).toEqual(["v"]); // written before begin() returned
    expect(s.begin("m", "memory")).toBeUndefined();
    const settled = { d: false };
    const durable = s.begin("d", "durable")!.then(() => (settled.d = true));
    for (let i = 0; i < 5; i++) await Promise.resolve(); // microtasks only: no fsync can finish
    expect(settled.d).toBe(false);
    await durable;
    expect(settled.d).toBe(true);
    s.close();
  });

  it("compacts a chunk per event-loop turn, keeping what is journaled meanwhile, and renames only a complete file", async () => {
    const dir = tmp();
    const max = 3 * COMPACT_CHUNK;
    const s = IdempotencyStore.open(dir, max, { bootId: "b1" });
    for (let i = 0; i <= 2 * max; i++) s.begin(`k${i}`, "volatile"); // the last one starts a compaction
    // The call that started it has returned and the journal is still the long one: nothing
    // was rewritten in that call (a 100,000-entry compaction stalled the agent for 0.8 s).
    expect(journalRecords(dir)).toHaveLength(2 * max + 1);
    expect(readdirSync(dir)).toContain("idempotency.jsonl.tmp");
    await new Promise((r) => setImmediate(r)); // one chunk written, the rest to come
    const oldest = `k${max + 1}`; // its line went out in the first chunk, still in progress
    s.finish(oldest, { status: "ok", result: { n: 1 } }); // changed meanwhile
    s.begin("new", "durable");
    await s.compacted();
    const records = journalRecords(dir);
    expect(records.length).toBeLessThan(max + 10);
    expect(readdirSync(dir)).not.toContain("idempotency.jsonl.tmp");
    s.begin("after", "volatile"); // appended to the new journal
    s.close();
    const again = IdempotencyStore.open(dir, max, { bootId: "b1" });
    expect(again.size).toBe(max);
    expect(again.get(oldest)).toMatchObject({ state: "done", reply: { result: { n: 1 } } });
    expect(again.get(`k${max + 2}`)).toBeUndefined(); // evicted for "new" and "after", as in the live map
    expect(again.get(`k${max + 3}`)).toBeUndefined();
    expect(again.get(`k${max + 4}`)?.state).toBe("in_progress");
    expect(again.get("new")?.state).toBe("in_progress");
    expect(again.get("after")?.state).toBe("in_progress");
    expect(again.get(`k${2 * max}`)?.state).toBe("in_progress");
    again.close();
  });

  it("a compaction cut short by close() leaves the journal complete and no half-written file", () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 100, { bootId: "b1" });
    for (let i = 0; i <= 200; i++) s.finish(`k${i}`, { status: "ok" });
    s.begin("k201", "volatile"); // starts the compaction
    s.close();
    expect(readdirSync(dir)).toEqual(["idempotency.jsonl"]);
    const again = IdempotencyStore.open(dir, 100, { bootId: "b1" });
    expect(again.get("k201")?.state).toBe("in_progress");
    expect(again.get("k200")?.state).toBe("done");
    expect(again.size).toBe(100);
    again.close();
  });

  it("stays bounded, forgetting the least recently used, also after compaction", () => {
    const dir = tmp();
    const s = IdempotencyStore.open(dir, 100);
    for (let i = 0; i < 500; i++) s.finish(`k${i}`, { status: "ok" });
    s.close();
    const again = IdempotencyStore.open(dir, 100);
    expect(again.size).toBe(100);
    expect(again.get("k499")).toBeDefined();
    expect(again.get("k0")).toBeUndefined();
    again.close();
  });
});

describe("the command envelope codec", () => {
  it("moves target.domain into args.domain", () => {
    const env = parseCommand(Buffer.from(JSON.stringify({ v: 1, command_id: "c", op: "domain.start", target: { host: "h", domain: "vm1" }, args: { paused: true } })));
    expect(commandArgs(env)).toEqual({ paused: true, domain: "vm1" });
  });

  it("rejects a wrong envelope version with no_support and junk with invalid_arg", () => {
    const code = (b: string): string => {
      try {
        parseCommand(Buffer.from(b));
        return "none";
      } catch (e) {
        return (e as AgentError).code;
      }
    };
    expect(code(JSON.stringify({ v: 2, command_id: "c", op: "host.ping", target: { host: "h" } }))).toBe("no_support");
    expect(code("{")).toBe("invalid_arg");
    expect(code(JSON.stringify({ v: 1, command_id: "c", op: "host.ping" }))).toBe("invalid_arg");
  });

  it("counts the broker expiration from the message timestamp", () => {
    expect(brokerDeadline("5000", 1000)).toBe(1000 * 1000 + 999 + 5000);
    expect(brokerDeadline(undefined, 1000)).toBeUndefined();
  });
});

describe("broker connection settings", () => {
  it("refuse a URL that carries credentials", () => {
    const base = { username: "u", password_file: undefined, tls: undefined, heartbeat_s: 5, reconnect_max_ms: 1000 };
    expect(() => loadConnectionSettings({ ...base, url: "amqp://u:secret@127.0.0.1/" })).toThrow(/credentials in the URL/);
    expect(loadConnectionSettings({ ...base, url: "amqp://127.0.0.1:5673/" }).target.port).toBe(5673);
  });
});
