import { describe, expect, it } from "vitest";
import { KeyedMutex } from "../../../agent/control/mutex.js";

describe("KeyedMutex", () => {
  it("runs calls with one key in order and forgets the key when idle", async () => {
    const m = new KeyedMutex();
    const log: number[] = [];
    const job = (n: number, ms: number) => m.run("k", async () => {
      await new Promise((r) => setTimeout(r, ms));
      log.push(n);
      return n;
    });
    const results = await Promise.all([job(1, 30), job(2, 1), job(3, 10)]);
    expect(results).toEqual([1, 2, 3]);
    expect(log).toEqual([1, 2, 3]);
    expect(m.size).toBe(0);
  });

  it("a failing call does not block the next one with the same key", async () => {
    const m = new KeyedMutex();
    const a = m.run("k", async () => {
      throw new Error("boom");
    });
    const b = m.run("k", async () => "after");
    await expect(a).rejects.toThrow("boom");
    await expect(b).resolves.toBe("after");
  });

  it("a free key runs the call at once, in the caller's turn; a held one queues it", async () => {
    const m = new KeyedMutex();
    const started: string[] = [];
    const first = m.run("k", async () => {
      started.push("first");
      await new Promise((r) => setTimeout(r, 5));
    });
    const second = m.run("k", async () => void started.push("second"));
    expect(started).toEqual(["first"]); // synchronously, before any microtask
    await Promise.all([first, second]);
    expect(started).toEqual(["first", "second"]);
  });

  it("different keys run in parallel", async () => {
    const m = new KeyedMutex();
    let running = 0;
    let peak = 0;
    const job = () => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    };
    await Promise.all([m.run("a", job()), m.run("b", job()), m.run("a", job())]);
    expect(peak).toBe(2);
  });
});
