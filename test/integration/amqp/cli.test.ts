import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../../agent/cli.js";
import { CliError } from "../../../agent/cli/runtime.js";
import { BROKER, CutProxy, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

describe("virtbus --bus: the CLI verbs over AMQP", () => {
  let prefix = "";
  let agents: Agent[] = [];
  let proxy: CutProxy | undefined;

  beforeAll(requireBroker);

  afterEach(async () => {
    for (const a of agents) {
      await a.exporter.stop();
      removeDir(a.stateDir);
    }
    await proxy?.stop();
    proxy = undefined;
    await cleanupTopology(prefix, ["h1", "h2"]);
    agents = [];
    delete process.env["VIRTBUS_BUS_PREFIX"];
  });

  async function run(args: string[]): Promise<string[]> {
    const out: string[] = [];
    await buildProgram((s) => out.push(s)).parseAsync(["node", "virtbus", "--bus", BROKER, ...args]);
    return out;
  }

  it("virtbus --bus URL --host h1 destroy powers off the guest on that host", async () => {
    prefix = uniquePrefix();
    process.env["VIRTBUS_BUS_PREFIX"] = prefix;
    const a = await startAgent({ prefix, hostId: "h1" });
    agents.push(a);
    await waitUntil(() => a.exporter.health().connected, 5000, "the agent to connect");
    const dom = a.h.store.listDomains()[0]!;
    const out = await run(["--host", "h1", "destroy", dom.name]);
    expect(out.join("\n")).toContain(dom.name);
    expect(a.h.store.getDomain(dom.uuid)!.state).toBe("shutoff");
  });

  it("virtbus fleet list shows the guests of every host on the bus", async () => {
    prefix = uniquePrefix();
    process.env["VIRTBUS_BUS_PREFIX"] = prefix;
    for (const hostId of ["h1", "h2"]) agents.push(await startAgent({ prefix, hostId, demoDomains: 2 }));
    await waitUntil(() => agents.every((a) => a.exporter.health().connected), 5000, "both agents to connect");
    const out = await run(["--json", "fleet", "list", "--wait", "1500"]);
    const rows = JSON.parse(out.join("\n")) as { host: string; name: string }[];
    expect(rows.filter((r) => r.host === "h1")).toHaveLength(2);
    expect(rows.filter((r) => r.host === "h2")).toHaveLength(2);
  });

  it("virtbus fleet list names a host that refuses host.resync and fails, still listing the others' guests", async () => {
    prefix = uniquePrefix();
    process.env["VIRTBUS_BUS_PREFIX"] = prefix;
    agents.push(await startAgent({ prefix, hostId: "h1", demoDomains: 2 }));
    // h2's policy gives the broker user no role: every command from it is forbidden there
    agents.push(await startAgent({ prefix, hostId: "h2", demoDomains: 1, policy: { roles: {}, users: { local: ["admin"] } } }));
    await waitUntil(() => agents.every((a) => a.exporter.health().connected), 5000, "both agents to connect");
    const out: string[] = [];
    const failed = await buildProgram((line) => out.push(line))
      .parseAsync(["node", "virtbus", "--bus", BROKER, "--json", "fleet", "list", "--wait", "1500"])
      .then(() => undefined, (e: unknown) => e as CliError);
    expect(failed).toBeInstanceOf(CliError);
    expect(failed?.code).toBe("forbidden");
    expect(failed?.message).toMatch(/host h2 refused host.resync: user "guest" may not run host.resync/);
    const rows = JSON.parse(out.join("\n")) as { host: string }[];
    expect(rows.map((r) => r.host)).toEqual(["h1", "h1"]);
  });

  it("virtbus fleet events reports how many events a host's outbox dropped during a broker outage, once, before the next seq", async () => {
    prefix = uniquePrefix();
    process.env["VIRTBUS_BUS_PREFIX"] = prefix;
    proxy = new CutProxy();
    await proxy.start();
    // The smallest outbox: 150 events during the outage drop the 50 oldest.
    const a = await startAgent({ prefix, url: proxy.url, cfg: { outbox_max_events: 100 } });
    agents.push(a);
    await waitUntil(() => a.exporter.health().connected, 5000, "the agent to connect");
    const dom = a.h.store.listDomains()[0]!;
    const emit = (): void => void a.h.bus.emit("domain.lifecycle", { uuid: dom.uuid, name: dom.name, event: "suspended", detail: "paused", state: "paused", reason: "user" });
    const out: string[] = [];
    const cli = buildProgram((line) => out.push(line)).parseAsync(["node", "virtbus", "--bus", BROKER, "--host", "h1", "fleet", "events", "--count", "300"]);
    for (let i = 0; i < 100 && out.length === 0; i++) {
      emit(); // until the CLI's subscription is up and prints
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitUntil(() => a.exporter.health().outboxDepth === 0, 5000, "every event before the cut to be confirmed");
    await new Promise((r) => setTimeout(r, 200));
    const lastSeq = Number(/seq=(\d+)/.exec(out.at(-1)!)![1]);
    expect(lastSeq).toBe(a.exporter.health().lastSeq);
    await proxy.sever();
    await waitUntil(() => !a.exporter.health().connected, 5000, "the agent to notice the cut");
    for (let i = 0; i < 150; i++) emit();
    await waitUntil(() => a.exporter.health().dropped === 50, 2000, "the outbox to drop the oldest 50");
    await proxy.restore();
    await waitUntil(() => out.some((l) => l.startsWith("!!")), 10_000, "the gap report");
    for (let i = 0; i < 2000 && out.filter((l) => !l.startsWith("!!")).length < 300; i++) {
      emit();
      await new Promise((r) => setTimeout(r, 2));
    }
    await cli;
    const gaps = out.filter((l) => l.startsWith("!!"));
    expect(gaps).toEqual([`!! h1: 50 event(s) missed before seq ${lastSeq + 51}; a snapshot will follow (or run host.resync)`]);
    const next = out[out.indexOf(gaps[0]!) + 1]!;
    expect(next).toMatch(new RegExp(`seq=${lastSeq + 51} `));
  });
});
