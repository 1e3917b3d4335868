import { connect } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { FleetClient, type WireEvent } from "../../../agent/exporters/amqp/client.js";
import { Outbox } from "../../../agent/exporters/amqp/outbox.js";
import { BROKER, captureLogger, CutProxy, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

describe("AMQP events, snapshots and outages", () => {
  let prefix = "";
  let agent: Agent | undefined;
  let client: FleetClient | undefined;
  let proxy: CutProxy | undefined;

  beforeAll(requireBroker);

  afterEach(async () => {
    await client?.close();
    await agent?.exporter.stop();
    if (agent) removeDir(agent.stateDir);
    await proxy?.stop();
    await cleanupTopology(prefix, ["h1"]);
    agent = undefined;
    client = undefined;
    proxy = undefined;
  });

  it("100 lifecycle events during a broker cut all arrive after reconnect, in order, once, with contiguous seq", async () => {
    prefix = uniquePrefix();
    proxy = new CutProxy();
    await proxy.start();
    agent = await startAgent({ prefix, url: proxy.url, demoDomains: 1 });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    client = await FleetClient.connect({ url: BROKER, prefix });
    const got: WireEvent[] = [];
    await client.subscribe([{ exchange: "events", pattern: "ev.h1.domain.*" }, { exchange: "state", pattern: "st.h1.snapshot" }], (e) => got.push(e));
    await proxy.sever();
    await waitUntil(() => !agent!.exporter.health().connected, 5000, "the agent to notice the cut");
    const dom = agent.h.store.listDomains()[0]!;
    for (let i = 0; i < 50; i++) {
      await agent.h.fake.suspendDomain(dom.uuid);
      await agent.h.fake.resumeDomain(dom.uuid);
    }
    expect(agent.exporter.health().outboxDepth).toBeGreaterThanOrEqual(100);
    await proxy.restore();
    const lifecycle = (): WireEvent[] => got.filter((e) => e.event_type === "domain.lifecycle");
    await waitUntil(() => lifecycle().length >= 100 && agent!.exporter.health().outboxDepth === 0, 15_000, "100 events after reconnect");
    await new Promise((r) => setTimeout(r, 200));
    const ev = lifecycle();
    expect(ev).toHaveLength(100);
    expect(ev.map((e) => e.routingKey)).toEqual(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? "ev.h1.domain.suspended" : "ev.h1.domain.resumed")));
    expect(new Set(ev.map((e) => e.event_id)).size).toBe(100);
    // seq is contiguous across everything this epoch published (events and snapshots)
    const all = got.filter((e) => e.epoch === agent!.exporter.epoch).sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBe(all[i - 1]!.seq + 1);
    for (let i = 1; i < ev.length; i++) expect(ev[i]!.seq).toBe(ev[i - 1]!.seq + 1);
    expect(got.some((e) => e.event_type === "host.snapshot" && (e.payload as { reason: string }).reason === "reconnect")).toBe(true);
  });

  it("audit events of back-to-back commands share outbox writes, and a lifecycle event takes the waiting ones along in seq order", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix, demoDomains: 1 });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    client = await FleetClient.connect({ url: BROKER, prefix });
    const got: WireEvent[] = [];
    await client.subscribe([{ exchange: "events", pattern: "ev.h1.#" }], (e) => got.push(e));
    const batches: string[][] = [];
    const orig = Outbox.prototype.appendMany;
    // Watches the outbox's writes (each appendMany() is one write(2)) without changing them.
    Outbox.prototype.appendMany = function (this: Outbox, recs) {
      batches.push(recs.map((r) => r.type));
      return orig.call(this, recs);
    };
    try {
      for (let i = 0; i < 30; i++) expect((await client.call("h1", "host.ping")).status).toBe("ok");
      // the consumer hands the 30 audits to the exporter in batches (at most AUDIT_DELAY_MS late)
      await waitUntil(() => agent!.h.events.filter((e) => e.name === "command.audit").length >= 30, 5000, "30 audits");
      const dom = agent.h.store.listDomains()[0]!;
      // a 31st command, and a lifecycle event in the same turn as its audit record
      await agent.h.dispatcher.dispatch("host.ping", {}, { user: "guest", via: "internal" });
      agent.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event: "suspended", detail: "paused", state: "paused", reason: "user" });
      await waitUntil(() => got.filter((e) => e.event_type === "command.audit").length >= 31 && got.some((e) => e.event_type === "domain.lifecycle"), 5000, "31 audits and a lifecycle event");
    } finally {
      Outbox.prototype.appendMany = orig;
    }
    const audits = batches.flat().filter((t) => t === "command.audit");
    expect(audits).toHaveLength(31);
    // 31 commands, far fewer writes: records waited for company instead of one write each
    expect(batches.filter((b) => b.includes("command.audit")).length).toBeLessThan(20);
    // the last audit record did not wait for its timer: it went out with the lifecycle event
    const last = batches.find((b) => b.includes("domain.lifecycle"))!;
    expect(last.indexOf("command.audit")).toBeGreaterThanOrEqual(0);
    expect(last.lastIndexOf("command.audit")).toBeLessThan(last.indexOf("domain.lifecycle"));
    const mine = got.filter((e) => e.epoch === agent!.exporter.epoch && e.event_type !== "host.snapshot").sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.seq).toBe(mine[i - 1]!.seq + 1);
    expect(mine.at(-1)!.event_type).toBe("domain.lifecycle");
  });

  it("start does not fail while the broker is down, and the outbox drains once it is reachable", async () => {
    prefix = uniquePrefix();
    proxy = new CutProxy();
    await proxy.start();
    const port = proxy.port;
    await proxy.sever();
    agent = await startAgent({ prefix, url: `amqp://127.0.0.1:${port}/` });
    const dom = agent.h.store.listDomains()[0]!;
    await agent.h.fake.suspendDomain(dom.uuid);
    expect(agent.exporter.health().connected).toBe(false);
    expect(agent.exporter.health().outboxDepth).toBeGreaterThanOrEqual(2); // start snapshot + event
    await proxy.restore();
    await waitUntil(() => agent!.exporter.health().connected && agent!.exporter.health().outboxDepth === 0, 10_000, "the outbox to drain");
  });

  it("host.resync publishes a snapshot listing every guest from the state store", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix, demoDomains: 3 });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    client = await FleetClient.connect({ url: BROKER, prefix });
    const { snapshots: snaps } = await client.collectSnapshots(2000, ["h1"]);
    const s = snaps.get("h1");
    expect(s).toBeDefined();
    const names = ((s!.payload as { domains: { name: string }[] }).domains ?? []).map((d) => d.name).sort();
    expect(names).toEqual(agent.h.store.listDomains().map((d) => d.name).sort());
  });

  it("a poison message without reply_to is dead-lettered into the kept dlx queue", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const c = await connect(BROKER);
    const ch = await c.createChannel();
    ch.publish(agent.exporter.names.cmd, "host.h1", Buffer.from("{not json"), { userId: "guest", messageId: "poison-1" });
    let dead: false | { properties: { messageId?: string }; content: Buffer } = false;
    const t0 = Date.now();
    while (!dead && Date.now() - t0 < 5000) {
      dead = await ch.get(agent.exporter.names.dlxQueue, { noAck: true });
      if (!dead) await new Promise((r) => setTimeout(r, 50));
    }
    await c.close();
    expect(dead && dead.properties.messageId).toBe("poison-1");
    expect(dead && dead.content.toString()).toBe("{not json");
  });

  it("stopping the agent during a burst of events waits for their confirms and logs no nack", async () => {
    prefix = uniquePrefix();
    const cap = captureLogger();
    agent = await startAgent({ prefix, log: cap.log, cfg: { confirm_window: 64 } });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    client = await FleetClient.connect({ url: BROKER, prefix });
    const got = new Set<number>();
    await client.subscribe([{ exchange: "events", pattern: "ev.h1.domain.*" }], (e) => got.add(e.seq));
    const dom = agent.h.store.listDomains()[0]!;
    for (let i = 0; i < 2000; i++) agent.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event: "suspended", detail: "paused", state: "paused", reason: "user" });
    await agent.exporter.stop();
    expect(cap.lines.filter((l) => /nack|rebuilding/.test(l))).toEqual([]);
    expect(cap.lines.filter((l) => /"level":(40|50)/.test(l))).toEqual([]);
    const reopened = Outbox.open(`${agent.stateDir}/amqp/outbox`, 100_000);
    expect(reopened.depth).toBe(0);
    reopened.close();
    await waitUntil(() => got.size >= 2000, 5000, "all 2000 events at the consumer");
  });
});
