import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../../agent/model/errors.js";
import { dnsmasqFiles } from "../../../agent/drivers/net/net-runtime.js";
import { netFixture, ok, requireTools, run, type NetFixture } from "./netns.js";

let f: NetFixture;
let squatter: ChildProcess | undefined;

beforeAll(async () => {
  requireTools();
  f = await netFixture("bad");
});
afterAll(() => {
  squatter?.kill("SIGKILL");
  f?.cleanup();
});

function net(name: string, bridge: string, ip: string, extra = ""): string {
  return `<network><name>${name}</name><forward mode='nat'/><bridge name='${bridge}'/><ip address='${ip}' prefix='24'>${extra}</ip></network>`;
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AgentError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

/** Nothing of a network is left in the namespace: no bridge, no table, no dnsmasq files. */
function leftovers(name: string, bridge: string): string[] {
  const out: string[] = [];
  if (ok(f.ns, "ip", "link", "show", bridge)) out.push("bridge");
  if (run(f.ns, "nft", "list", "tables").includes(`virtbus-${bridge}`)) out.push("nft table");
  if (existsSync(dnsmasqFiles(f.dirs, name).pidFile)) out.push("dnsmasq pid file");
  if (existsSync(dnsmasqFiles(f.dirs, name).conf)) out.push("dnsmasq conf");
  return out;
}

describe("bad network input is refused with nothing half-built", () => {
  it("a subnet overlapping another defined network is refused at define", async () => {
    await f.driver.defineNetwork(net("first", "vbr-first", "10.50.0.1"));
    expect(await failure(f.driver.defineNetwork(net("second", "vbr-second", "10.50.0.7")))).toBe("operation_invalid: subnet 10.50.0.0/24 of network 'first' overlaps this network");
    expect(f.driver.listNetworks().map((n) => n.name)).toEqual(["first"]);
  });

  it("a subnet overlapping a route of the host is refused at start", async () => {
    // (the dummy module may be missing; a veth pair with both ends up gives the same route)
    run(f.ns, "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1");
    run(f.ns, "ip", "addr", "add", "10.60.0.2/16", "dev", "uplink0");
    run(f.ns, "ip", "link", "set", "uplink0", "up");
    run(f.ns, "ip", "link", "set", "uplink1", "up");
    await f.driver.defineNetwork(net("shadow", "vbr-shadow", "10.60.3.1"));
    expect(await failure(f.driver.startNetwork("shadow"))).toBe("operation_invalid: subnet overlaps the host route 10.60.0.0/16");
    expect(leftovers("shadow", "vbr-shadow")).toEqual([]);
  });

  it("a bridge name already used by an interface is refused at start", async () => {
    run(f.ns, "ip", "link", "add", "vbr-taken", "type", "veth", "peer", "name", "vbr-taken-p");
    await f.driver.defineNetwork(net("taken", "vbr-taken", "10.61.0.1"));
    expect(await failure(f.driver.startNetwork("taken"))).toBe("operation_invalid: bridge name 'vbr-taken' is already in use by an existing interface");
    expect(ok(f.ns, "ip", "link", "show", "vbr-taken")).toBe(true);
    expect(run(f.ns, "nft", "list", "tables")).not.toContain("virtbus-vbr-taken");
  });

  it("an invalid prefix is refused at define", async () => {
    const xml = `<network><name>p</name><ip address='10.62.0.1' prefix='31'/></network>`;
    expect(await failure(f.driver.defineNetwork(xml))).toMatch(/^invalid_arg: invalid prefix \/31/);
  });

  it("a DHCP range outside the subnet is refused at define", async () => {
    const xml = net("range", "vbr-range", "10.63.0.1", "<dhcp><range start='10.63.0.10' end='10.63.1.10'/></dhcp>");
    expect(await failure(f.driver.defineNetwork(xml))).toBe("invalid_arg: DHCP range end 10.63.1.10 is outside the subnet 10.63.0.0/24");
  });

  it("a start that fails half-way (dnsmasq cannot bind) rolls back the bridge and the rules", async () => {
    // Hold UDP 53 on the future bridge address so dnsmasq exits at startup (ip_nonlocal_bind
    // lets the squatter bind an address the namespace does not have yet).
    run(f.ns, "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1");
    squatter = spawn("ip", ["netns", "exec", f.ns, "python3", "-c", "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('10.64.0.1',53))\nprint('bound',flush=True)\ntime.sleep(120)"], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => squatter?.stdout?.once("data", r));
    await f.driver.defineNetwork(net("rollback", "vbr-rb", "10.64.0.1", "<dhcp><range start='10.64.0.10' end='10.64.0.20'/></dhcp>"));
    expect(await failure(f.driver.startNetwork("rollback"))).toMatch(/^operation_failed: dnsmasq .*(in use|Address)/i);
    expect(leftovers("rollback", "vbr-rb")).toEqual([]);
    expect(f.driver.getNetwork("rollback").active).toBe(false);
  });
});
