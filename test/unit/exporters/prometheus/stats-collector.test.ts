import { afterEach, describe, expect, it } from "vitest";
import { StatsCollector } from "../../../../agent/control/stats-collector.js";
import { makeHarness, type Harness } from "../../../helpers/harness.js";
import { sleep, useHangingFake, uuidOf, type HangingFake } from "./hanging-fake.js";

const collectors: StatsCollector[] = [];

async function setup(config: Partial<StatsCollector["config"]> = {}): Promise<{ h: Harness; fake: HangingFake; c: StatsCollector }> {
  const h = await makeHarness({ demoDomains: 3 });
  const fake = await useHangingFake(h);
  const c = new StatsCollector({ services: h.services, config: { interval_ms: 60_000, deadline_ms: 100, freshness_ms: 1000, ...config }, log: h.services.log });
  collectors.push(c);
  return { h, fake, c };
}

afterEach(async () => {
  for (const c of collectors.splice(0)) await c.stop();
});

describe("StatsCollector", () => {
  it("a round writes fresh stats of every running guest into the store", async () => {
    const { h, c } = await setup();
    const round = await c.collect();
    expect(round).toMatchObject({ guests: 3, ok: 3, missed: 0 });
    for (const name of ["demo-1", "demo-2", "demo-3"]) {
      const uuid = uuidOf(h, name);
      expect(h.store.getStats(uuid)?.blocks[0]?.device).toBe("vda");
      expect(c.status(uuid)).toMatchObject({ up: true, consecutiveMisses: 0 });
    }
  });

  it("a guest whose stats call hangs misses the deadline, keeps its last values and ages, while the others stay fresh", async () => {
    const { h, fake, c } = await setup({ deadline_ms: 100 });
    await c.collect();
    const hung = uuidOf(h, "demo-2");
    const before = h.store.getStats(hung);
    fake.hung.add(hung);
    await sleep(150);
    const t0 = Date.now();
    const round = await c.collect();
    expect(Date.now() - t0).toBeLessThan(400);
    expect(round).toMatchObject({ guests: 3, ok: 2, missed: 1 });
    expect(c.status(hung)).toMatchObject({ up: false, consecutiveMisses: 1 });
    expect(h.store.getStats(hung)).toBe(before);
    const age1 = c.ageSeconds(hung) ?? 0;
    expect(age1).toBeGreaterThanOrEqual(0.25);
    await sleep(100);
    await c.collect();
    expect(c.ageSeconds(hung) ?? 0).toBeGreaterThan(age1);
    expect(c.ageSeconds(uuidOf(h, "demo-1")) ?? 1).toBeLessThan(0.1);
    expect(c.status(uuidOf(h, "demo-3"))?.up).toBe(true);
  });

  it("a hung guest never has more than one stats call in flight", async () => {
    const { h, fake, c } = await setup({ deadline_ms: 20 });
    const hung = uuidOf(h, "demo-1");
    fake.hung.add(hung);
    for (let i = 0; i < 5; i++) await c.collect();
    expect(fake.calls.get(hung)).toBe(1);
    expect(fake.calls.get(uuidOf(h, "demo-2"))).toBe(5);
    expect(c.status(hung)?.lastError).toMatch(/pending/);
  });

  it("a driver error marks the guest down with the error's message", async () => {
    const { h, fake, c } = await setup();
    const bad = uuidOf(h, "demo-3");
    fake.failing.add(bad);
    await c.collect();
    expect(c.status(bad)).toMatchObject({ up: false, lastError: "QMP refused query-blockstats" });
    expect(c.ageSeconds(bad)).toBeUndefined();
  });

  it("refresh inside the freshness window does not start a new round", async () => {
    const { c } = await setup({ freshness_ms: 10_000 });
    await c.collect();
    await c.refresh();
    await c.refresh();
    expect(c.rounds).toBe(1);
  });

  it("without freshness_ms a refresh serves the latest background round at once, even while the next round waits on a hung guest", async () => {
    const h = await makeHarness({ demoDomains: 3 });
    const fake = await useHangingFake(h);
    const c = new StatsCollector({ services: h.services, config: { interval_ms: 200, deadline_ms: 150 }, log: h.services.log });
    collectors.push(c);
    expect(c.freshnessMs).toBe(350);
    await c.start();
    fake.hung.add(uuidOf(h, "demo-1"));
    await sleep(260);
    const t0 = performance.now();
    await c.refresh();
    expect(performance.now() - t0).toBeLessThan(40);
    expect(fake.calls.get(uuidOf(h, "demo-2"))).toBe(2);
  });

  it("refresh after the freshness window collects again", async () => {
    const { c } = await setup({ freshness_ms: 50 });
    await c.collect();
    await sleep(80);
    await c.refresh();
    expect(c.rounds).toBe(2);
  });

  it("with freshness_ms 0 every refresh collects, even in the millisecond the last round started", async () => {
    const { c } = await setup({ freshness_ms: 0 });
    const round = await c.collect();
    await c.refresh(round.startedAt);
    await c.refresh(round.startedAt);
    expect(c.rounds).toBe(3);
  });

  it("concurrent collects join one round", async () => {
    const { fake, h, c } = await setup();
    await Promise.all([c.collect(), c.collect(), c.refresh()]);
    expect(c.rounds).toBe(1);
    expect(fake.calls.get(uuidOf(h, "demo-1"))).toBe(1);
  });

  it("a guest that stopped is forgotten on the next round", async () => {
    const { h, fake, c } = await setup();
    await c.collect();
    const gone = uuidOf(h, "demo-2");
    await fake.destroyDomain(gone);
    await c.collect();
    expect(c.status(gone)).toBeUndefined();
    expect(c.lastRound?.guests).toBe(2);
  });

  it("start collects at once and then on the interval until stop", async () => {
    const { c } = await setup({ interval_ms: 100 });
    await c.start();
    expect(c.rounds).toBe(1);
    await sleep(350);
    await c.stop();
    const after = c.rounds;
    expect(after).toBeGreaterThanOrEqual(3);
    await sleep(250);
    expect(c.rounds).toBe(after);
  });
});
