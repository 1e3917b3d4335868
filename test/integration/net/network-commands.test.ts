import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../../agent/cli.js";
import { silentLogger } from "../../../agent/core/log.js";
import { LocalSocketServer } from "../../../agent/exporters/local/socket-server.js";
import { AgentError } from "../../../agent/model/errors.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { netFixture, ok, requireTools, type NetFixture } from "./netns.js";

const XML = `<network><name>cmdnet</name><forward mode='nat'/><bridge name='vbr-cmd'/><ip address='10.80.0.1' prefix='24'><dhcp><range start='10.80.0.10' end='10.80.0.20'/></dhcp></ip></network>`;
const caller = { user: "root", via: "cli" } as const;

let f: NetFixture;
let h: Harness;

beforeAll(async () => {
  requireTools();
  f = await netFixture("cmd");
  h = await makeHarness();
  h.services.network = f.driver;
});
afterAll(() => f?.cleanup());

const call = (op: string, args: Record<string, unknown>) => h.dispatcher.dispatch(op, args, caller);

describe("network.* commands through dispatch", () => {
  it("network.define, network.start and network.info report the network active on its bridge", async () => {
    expect(await call("network.define", { xml: XML })).toMatchObject({ name: "cmdnet", active: false, updated: false });
    expect(await call("network.start", { network: "cmdnet" })).toMatchObject({ active: true, bridge: "vbr-cmd" });
    expect(ok(f.ns, "ip", "link", "show", "vbr-cmd")).toBe(true);
    expect(await call("network.info", { network: "cmdnet" })).toMatchObject({ active: true, forward: "nat", addresses: ["10.80.0.1/24"] });
  });

  it("network.list, network.dumpxml and network.dhcp_leases answer with wire-shaped results", async () => {
    expect(await call("network.list", {})).toMatchObject({ networks: [{ name: "cmdnet", active: true }] });
    expect(((await call("network.dumpxml", { network: "cmdnet" })) as { xml: string }).xml).toContain("<range start='10.80.0.10' end='10.80.0.20'/>");
    expect(await call("network.dhcp_leases", { network: "cmdnet" })).toEqual({ leases: [] });
  });

  it("network.autostart marks the network and the stored definition keeps it", async () => {
    expect(await call("network.autostart", { network: "cmdnet", enabled: true })).toMatchObject({ autostart: true });
  });

  it("network.undefine of an active network fails with operation_invalid", async () => {
    await expect(call("network.undefine", { network: "cmdnet" })).rejects.toMatchObject({ code: "operation_invalid" });
  });

  it("network.stop then network.undefine remove the bridge and the definition", async () => {
    expect(await call("network.stop", { network: "cmdnet" })).toMatchObject({ active: false });
    expect(ok(f.ns, "ip", "link", "show", "vbr-cmd")).toBe(false);
    expect(await call("network.undefine", { network: "cmdnet" })).toMatchObject({ name: "cmdnet" });
    await expect(call("network.info", { network: "cmdnet" })).rejects.toMatchObject({ code: "network.not_found" });
  });

  it("an agent without a network driver answers network commands with no_support", async () => {
    const bare = await makeHarness();
    const err = await bare.dispatcher.dispatch("network.list", {}, caller).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("no_support");
  });
});

describe("virtbus net-list over the control socket", () => {
  it("lists active networks by default, as virsh does; --all adds inactive ones, --inactive shows only those", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vbt-netlist-"));
    const server = new LocalSocketServer({ path: join(dir, "cli.sock"), dispatcher: h.dispatcher, bus: h.bus, log: silentLogger() });
    await server.start();
    const names = async (...args: string[]): Promise<string[]> => {
      const out: string[] = [];
      await buildProgram((line) => out.push(line)).parseAsync(["node", "virtbus", "--socket", join(dir, "cli.sock"), "--json", "net-list", ...args]);
      return (JSON.parse(out.join("\n")) as { networks: { name: string }[] }).networks.map((n) => n.name).sort();
    };
    try {
      await call("network.define", { xml: XML });
      await call("network.start", { network: "cmdnet" });
      await call("network.define", { xml: XML.replace("cmdnet", "idlenet").replace("vbr-cmd", "vbr-idle").replaceAll("10.80.0.", "10.81.0.") });
      expect(await names()).toEqual(["cmdnet"]);
      expect(await names("--all")).toEqual(["cmdnet", "idlenet"]);
      expect(await names("--inactive")).toEqual(["idlenet"]);
    } finally {
      await call("network.stop", { network: "cmdnet" }).catch(() => undefined);
      for (const n of ["cmdnet", "idlenet"]) await call("network.undefine", { network: n }).catch(() => undefined);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
