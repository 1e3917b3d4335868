import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../../agent/cli.js";
import { BROKER, cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

describe("virtbus --bus: the CLI verbs over AMQP", () => {
  let prefix = "";
  let agents: Agent[] = [];

  beforeAll(requireBroker);

  afterEach(async () => {
    for (const a of agents) {
      await a.exporter.stop();
      removeDir(a.stateDir);
    }
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
});
