import { afterEach, beforeAll, describe, expect, it } from "vitest";
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

  async function setup(policy?: Parameters<typeof startAgent>[0]["policy"]): Promise<{ agent: Agent; client: FleetClient }> {
    prefix = uniquePrefix();
    const agent = await startAgent(policy ? { prefix, policy } : { prefix });
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
});
