import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect } from "amqplib";
import { FleetClient } from "../../../agent/exporters/amqp/client.js";
import { cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent, BROKER } from "./env.js";

describe("AMQP commands against the machine's RabbitMQ", () => {
  let prefix = "";
  let agents: Agent[] = [];
  let clients: FleetClient[] = [];

  beforeAll(requireBroker);

  afterEach(async () => {
    for (const c of clients) await c.close();
    for (const a of agents) {
      await a.exporter.stop();
      removeDir(a.stateDir);
    }
    await cleanupTopology(prefix, ["h1"]);
    agents = [];
    clients = [];
  });

  async function setup(policy?: Parameters<typeof startAgent>[0]["policy"], bootId?: string): Promise<{ agent: Agent; client: FleetClient }> {
    prefix = uniquePrefix();
    const agent = await startAgent({ prefix, ...(policy ? { policy } : {}), ...(bootId ? { bootId } : {}) });
    agents.push(agent);
    await waitUntil(() => agent.exporter.health().connected, 5000, "the agent to connect");
    const client = await FleetClient.connect({ url: BROKER, prefix, timeoutMs: 5000 });
    clients.push(client);
    return { agent, client };
  }

  it("a host.ping round trip answers ok with the host id, epoch and correlation", async () => {
    const { agent, client } = await setup();
    const r = await client.call("h1", "host.ping", {}, { commandId: "c-1" });
    expect(r.status).toBe("ok");
    expect(r.in_reply_to).toBe("c-1");
    expect((r.result as { host: string }).host).toBe("h1");
    expect(r.host).toBe("h1");
    expect(r.epoch).toBe(agent.exporter.epoch);
  });

  it("domain.destroy over the bus powers the fake guest off", async () => {
    const { agent, client } = await setup();
    const dom = agent.h.store.listDomains()[0]!;
    expect(dom.state).toBe("running");
    const r = await client.call("h1", "domain.destroy", { domain: dom.name });
    expect(r.status).toBe("ok");
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("shutoff");
  });

  it("a command without user_id is rejected as forbidden and not executed", async () => {
    const { agent, client } = await setup();
    const dom = agent.h.store.listDomains()[0]!;
    const r = await client.call("h1", "domain.destroy", { domain: dom.name }, { user: null });
    expect(r.status).toBe("rejected");
    expect(r.error?.code).toBe("forbidden");
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("running");
  });

  it("an op the caller's role does not allow is rejected as forbidden", async () => {
    const { agent, client } = await setup({ roles: {}, users: { guest: ["viewer"] } });
    const dom = agent.h.store.listDomains()[0]!;
    const r = await client.call("h1", "domain.destroy", { domain: dom.name });
    expect(r.status).toBe("rejected");
    expect(r.error?.code).toBe("forbidden");
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("running");
    expect((await client.call("h1", "host.ping")).status).toBe("ok");
  });

  it("a command past its body deadline is answered expired and never executed", async () => {
    const { agent, client } = await setup();
    const dom = agent.h.store.listDomains()[0]!;
    const r = await client.call("h1", "domain.destroy", { domain: dom.name }, { deadline: Date.now() - 1000 });
    expect(r.status).toBe("expired");
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("running");
    expect(agent.h.events.some((e) => e.name === "command.audit" && (e.payload as { op: string }).op === "domain.destroy" && (e.payload as { result: string }).result === "ok")).toBe(false);
  });

  it("an unknown op is rejected with no_support and the consumer keeps serving", async () => {
    const { client } = await setup();
    const r = await client.call("h1", "domain.explode", {});
    expect(r.status).toBe("rejected");
    expect(r.error?.code).toBe("no_support");
    expect((await client.call("h1", "host.ping")).status).toBe("ok");
  });

  it("a repeated command_id is answered duplicate with the first result and executed once", async () => {
    const { agent, client } = await setup();
    const dom = agent.h.store.listDomains()[0]!;
    const first = await client.call("h1", "domain.suspend", { domain: dom.name }, { commandId: "dup-1" });
    expect(first.status).toBe("ok");
    await client.call("h1", "domain.resume", { domain: dom.name });
    const again = await client.call("h1", "domain.suspend", { domain: dom.name }, { commandId: "dup-1" });
    expect(again.status).toBe("duplicate");
    expect(again.original_status).toBe("ok");
    expect(again.result).toEqual(first.result);
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("running");
  });

  it("a duplicate is still recognised by a new exporter on the same state dir after a restart", async () => {
    const { agent, client } = await setup();
    const dom = agent.h.store.listDomains()[0]!;
    const first = await client.call("h1", "domain.suspend", { domain: dom.name }, { idempotencyKey: "restart-1" });
    expect(first.status).toBe("ok");
    await agent.exporter.stop();
    agents = [];
    const again = await startAgent({ prefix, stateDir: agent.stateDir });
    agents.push(again);
    await waitUntil(() => again.exporter.health().connected, 5000, "the restarted agent to connect");
    const dom2 = again.h.store.listDomains()[0]!;
    const r = await client.call("h1", "domain.suspend", { domain: dom2.name }, { idempotencyKey: "restart-1" });
    expect(r.status).toBe("duplicate");
    expect(again.h.store.getDomain(dom2.uuid)!.state).toBe("running");
  });

  it("a call nobody answers fails with operation_timeout after its own timeout, not before, and other calls still succeed", async () => {
    const { client } = await setup();
    // A host whose agent is down: its queue is still bound, so the command waits there unread.
    const conn = await connect(BROKER);
    const ch = await conn.createChannel();
    const ghost = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.bindQueue(ghost, client.names.cmd, "host.ghost");
    try {
      const t0 = performance.now();
      const lost = client.call("ghost", "host.ping", {}, { timeoutMs: 250 });
      expect((await client.call("h1", "host.ping")).status).toBe("ok"); // answered while the other waits
      await expect(lost).rejects.toMatchObject({ code: "operation_timeout", message: "no reply to host.ping from ghost within 250 ms" });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    } finally {
      await conn.close();
    }
  });

  it("a call to a host no agent serves fails at once, naming the host, instead of waiting out its timeout", async () => {
    const { client } = await setup();
    const t0 = performance.now();
    await expect(client.call("no-such-host", "host.ping", {}, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: "operation_failed",
      message: expect.stringContaining('no agent with host id "no-such-host" is on the bus'),
    });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await client.call("h1", "host.ping")).status).toBe("ok");
  });

  /**
   * A send_key the broker delivered to an agent that then died without acking (as it would
   * with its host): the test's own consumer plays that agent, so the journal holds no start
   * record, exactly as after a host crash that took the unsynced page cache along.
   */
  async function redeliveredSendKey(bootAfter: string): Promise<{ reply: Awaited<ReturnType<FleetClient["call"]>>; keys: number }> {
    const { agent, client } = await setup(undefined, "boot-1");
    const dom = agent.h.store.listDomains().find((d) => d.state === "running")!;
    await agent.exporter.stop();
    agents = [];
    const conn = await connect(BROKER);
    const ch = await conn.createChannel();
    const delivered = new Promise<void>((resolve) => void ch.consume(agent.exporter.names.cmdQueue, (m) => m && resolve()));
    const reply = client.call("h1", "domain.send_key", { domain: dom.name, keys: ["KEY_ENTER"] }, { timeoutMs: 10_000 });
    await delivered;
    await conn.close(); // unacked: back to the queue, marked redelivered
    const again = await startAgent({ prefix, stateDir: agent.stateDir, bootId: bootAfter });
    agents.push(again);
    const r = await reply;
    const uuid = again.h.store.findDomain(dom.name)!.uuid;
    return { reply: r, keys: again.h.fake.keyLog.get(uuid)?.length ?? 0 };
  }

  it("a send_key redelivered after a host restart is answered duplicate with an unknown outcome and no key is sent", async () => {
    const { reply, keys } = await redeliveredSendKey("boot-2");
    expect(reply.status).toBe("duplicate");
    expect(reply.original_status).toBe("unknown");
    expect(reply.error?.message).toMatch(/before the host restarted/);
    expect(keys).toBe(0);
  });

  it("a send_key redelivered after an agent restart on the same boot (no start record) is sent once", async () => {
    const { reply, keys } = await redeliveredSendKey("boot-1");
    expect(reply.status).toBe("ok");
    expect(keys).toBe(1);
  });
});
