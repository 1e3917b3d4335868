import { randomUUID } from "node:crypto";
import { connect, type Channel, type ChannelModel } from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ReplyBody } from "../../../agent/exporters/amqp/codec.js";
import { topologyNames } from "../../../agent/exporters/amqp/topology.js";
import { BROKER, CutProxy, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

/**
 * A bare amqplib controller (not our FleetClient): it sees EVERY reply on its queue, so a
 * test can count replies per command instead of taking the first one.
 */
class RawController {
  readonly replies = new Map<string, ReplyBody[]>();
  private replyQueue = "";

  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: Channel,
    private readonly prefix: string,
  ) {}

  static async open(prefix: string): Promise<RawController> {
    const conn = await connect(BROKER, { noDelay: true });
    conn.on("error", () => undefined);
    const ch = await conn.createChannel();
    const c = new RawController(conn, ch, prefix);
    const n = topologyNames(prefix, "_");
    await ch.assertExchange(n.cmd, "direct", { durable: true });
    await ch.assertExchange(n.reply, "direct", { durable: true });
    c.replyQueue = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.bindQueue(c.replyQueue, n.reply, c.replyQueue);
    await ch.consume(c.replyQueue, (m) => {
      if (!m) return;
      const r = JSON.parse(m.content.toString()) as ReplyBody;
      const id = r.in_reply_to ?? "";
      c.replies.set(id, [...(c.replies.get(id) ?? []), r]);
    }, { noAck: true });
    return c;
  }

  send(op: string, target: Record<string, string>, props: { expiration?: string; timestamp?: number } = {}): string {
    const id = randomUUID();
    const body = { v: 1, command_id: id, op, target: { host: "h1", ...target }, args: {} };
    this.ch.publish(topologyNames(this.prefix, "h1").cmd, "host.h1", Buffer.from(JSON.stringify(body)), {
      userId: "guest",
      messageId: id,
      replyTo: this.replyQueue,
      persistent: true,
      timestamp: props.timestamp ?? Math.floor(Date.now() / 1000),
      ...(props.expiration ? { expiration: props.expiration } : {}),
    });
    return id;
  }

  finals(id: string): ReplyBody[] {
    return (this.replies.get(id) ?? []).filter((r) => r.status !== "accepted");
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("AMQP commands under broker expiry and broker cuts", () => {
  let prefix = "";
  let agent: Agent | undefined;
  let ctl: RawController | undefined;
  let proxy: CutProxy | undefined;

  beforeAll(requireBroker);

  afterEach(async () => {
    await ctl?.close();
    await agent?.exporter.stop();
    if (agent) removeDir(agent.stateDir);
    await proxy?.stop();
    await cleanupTopology(prefix, ["h1"]);
    agent = undefined;
    ctl = undefined;
    proxy = undefined;
  });

  it("a command whose broker expiration runs out while it waits in the queue is dead-lettered as expired and never executed", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const dom = agent.h.store.listDomains()[0]!;
    // The agent goes away; its quorum queue stays and holds the command.
    await agent.exporter.stop();
    ctl = await RawController.open(prefix);
    const id = ctl.send("domain.destroy", { domain: dom.name }, { expiration: "300" });
    await sleep(800);
    const again = await startAgent({ prefix, stateDir: agent.stateDir });
    agent = again;
    await waitUntil(() => again.exporter.health().connected, 5000, "the agent to reconnect");
    await sleep(300);
    const c = await connect(BROKER);
    const ch = await c.createChannel();
    const dead = await ch.get(topologyNames(prefix, "h1").dlxQueue, { noAck: true });
    await c.close();
    if (!dead) throw new Error("nothing was dead-lettered");
    expect(dead.properties.messageId).toBe(id);
    const death = (dead.properties.headers?.["x-death"] as { reason: string }[] | undefined) ?? [];
    expect(death[0]?.reason).toBe("expired");
    expect(again.h.events.some((e) => e.name === "command.audit")).toBe(false);
    expect(again.h.store.findDomain(dom.name)?.state).toBe("running");
    expect(ctl.finals(id)).toEqual([]);
  });

  it("a command whose expiration ran out counted from its sender's timestamp is answered expired and not executed", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const dom = agent.h.store.listDomains()[0]!;
    ctl = await RawController.open(prefix);
    // Sent 30 s ago with 5 s to live (e.g. it sat in a shovel): the broker alone would still deliver it.
    const id = ctl.send("domain.destroy", { domain: dom.name }, { expiration: "5000", timestamp: Math.floor(Date.now() / 1000) - 30 });
    await waitUntil(() => ctl!.finals(id).length > 0, 5000, "the reply");
    expect(ctl.finals(id).map((r) => [r.status, r.error?.code])).toEqual([["expired", "deadline_exceeded"]]);
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("running");
  });

  it("commands running when the broker connection is cut each get exactly one final reply after reconnect and run once", async () => {
    prefix = uniquePrefix();
    proxy = new CutProxy();
    await proxy.start();
    agent = await startAgent({ prefix, url: proxy.url, demoDomains: 5 });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    // A slow hypervisor: each suspend takes 800 ms, so the cut lands while they all run.
    const hv = agent.h.services.hypervisor;
    for (const d of agent.h.store.listDomains()) {
      if (d.state === "shutoff") await hv.startDomain(d.uuid, { paused: false });
      if (d.state === "paused") await hv.resumeDomain(d.uuid);
    }
    const suspend = hv.suspendDomain.bind(hv);
    const runs = new Map<string, number>();
    let finished = 0;
    hv.suspendDomain = async (uuid: string) => {
      runs.set(uuid, (runs.get(uuid) ?? 0) + 1);
      try {
        await sleep(800);
        return await suspend(uuid);
      } finally {
        finished++;
      }
    };
    ctl = await RawController.open(prefix);
    const doms = agent.h.store.listDomains().filter((d) => d.state === "running");
    expect(doms).toHaveLength(5);
    const ids = doms.map((d) => ctl!.send("domain.suspend", { domain: d.name }));
    await waitUntil(() => runs.size === doms.length, 5000, "every command to start");
    await proxy.sever();
    await waitUntil(() => finished === doms.length, 5000, "the handlers to finish while the broker is unreachable");
    expect(ids.every((id) => ctl!.finals(id).length === 0)).toBe(true);
    await proxy.restore();
    await waitUntil(() => ids.every((id) => ctl!.finals(id).length > 0), 10_000, "a reply to every command");
    await sleep(500); // room for a second reply, which must not come
    for (const id of ids) {
      const f = ctl.finals(id);
      expect(f).toHaveLength(1);
      expect([f[0]!.status, f[0]!.original_status, f[0]!.error?.message]).toEqual(["duplicate", "ok", undefined]);
    }
    expect([...runs.values()]).toEqual(doms.map(() => 1));
    expect(doms.every((d) => agent!.h.store.getDomain(d.uuid)!.state === "paused")).toBe(true);
  });
});
