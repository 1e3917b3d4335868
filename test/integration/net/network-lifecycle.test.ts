import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dnsmasqFiles } from "../../../agent/drivers/net/net-runtime.js";
import { netFixture, ok, processGone, requireTools, run, type NetFixture } from "./netns.js";

const NAT = `<network>
  <name>natnet</name>
  <forward mode='nat'/>
  <bridge name='vbr-nat'/>
  <ip address='192.168.150.1' prefix='24'>
    <dhcp><range start='192.168.150.100' end='192.168.150.199'/></dhcp>
  </ip>
  <ip family='ipv6' address='fd42:150::1' prefix='64'/>
</network>`;

const ISO = `<network><name>iso</name><bridge name='vbr-iso'/><ip address='10.77.0.1' prefix='24'/></network>`;
const ROUTED = `<network><name>routed</name><forward mode='route'/><bridge name='vbr-rt'/><ip address='172.20.5.1' prefix='24'/></network>`;

let f: NetFixture;

beforeAll(async () => {
  requireTools();
  f = await netFixture("life");
});
afterAll(() => f?.cleanup());

function dnsmasqAlive(name: string): boolean {
  const pidFile = dnsmasqFiles(f.dirs, name).pidFile;
  if (!existsSync(pidFile)) return false;
  return !processGone(readFileSync(pidFile, "utf8").trim());
}

describe("network lifecycle inside a namespace", () => {
  it("starting a nat network builds the bridge with both addresses, dnsmasq and the masquerade table", async () => {
    await f.driver.defineNetwork(NAT);
    const view = await f.driver.startNetwork("natnet");
    expect(view).toMatchObject({ active: true, bridge: "vbr-nat", forward: "nat" });
    const addrs = run(f.ns, "ip", "-o", "addr", "show", "dev", "vbr-nat");
    expect(addrs).toContain("192.168.150.1/24");
    expect(addrs).toContain("fd42:150::1/64");
    expect(dnsmasqAlive("natnet")).toBe(true);
    expect(run(f.ns, "nft", "list", "table", "inet", "virtbus-vbr-nat")).toMatch(/ip saddr 192\.168\.150\.0\/24 ip daddr != 192\.168\.150\.0\/24 masquerade/);
    expect(run(f.ns, "sysctl", "-n", "net.ipv4.ip_forward").trim()).toBe("1");
  });

  it("the host's own namespace never sees the bridge", () => {
    expect(existsSync("/sys/class/net/vbr-nat")).toBe(false);
  });

  it("stopping a network leaves no bridge, dnsmasq or rule behind", async () => {
    const pid = readFileSync(dnsmasqFiles(f.dirs, "natnet").pidFile, "utf8").trim();
    await f.driver.stopNetwork("natnet");
    expect(ok(f.ns, "ip", "link", "show", "vbr-nat")).toBe(false);
    expect(processGone(pid)).toBe(true);
    expect(run(f.ns, "nft", "list", "tables")).not.toContain("virtbus-vbr-nat");
    expect(f.driver.getNetwork("natnet").active).toBe(false);
  });

  it("an isolated network forwards nothing off its bridge and has no NAT chain", async () => {
    await f.driver.defineNetwork(ISO);
    await f.driver.startNetwork("iso");
    const rules = run(f.ns, "nft", "list", "table", "inet", "virtbus-vbr-iso");
    expect(rules).toMatch(/iifname "vbr-iso" oifname "vbr-iso" accept[\s\S]*iifname "vbr-iso" reject[\s\S]*oifname "vbr-iso" reject/);
    expect(rules).not.toContain("masquerade");
    expect(rules).not.toMatch(/saddr 10\.77\.0\.0\/24 accept/);
    await f.driver.stopNetwork("iso");
    expect(run(f.ns, "nft", "list", "tables")).not.toContain("virtbus-vbr-iso");
  });

  it("a routed network accepts its subnet both ways without NAT", async () => {
    await f.driver.defineNetwork(ROUTED);
    await f.driver.startNetwork("routed");
    const rules = run(f.ns, "nft", "list", "table", "inet", "virtbus-vbr-rt");
    expect(rules).toContain('iifname "vbr-rt" ip saddr 172.20.5.0/24 accept');
    expect(rules).toContain('oifname "vbr-rt" ip daddr 172.20.5.0/24 accept');
    expect(rules).not.toContain("masquerade");
    await f.driver.stopNetwork("routed");
    expect(ok(f.ns, "ip", "link", "show", "vbr-rt")).toBe(false);
  });

  it("lifecycle events are published for define, start, stop and undefine", async () => {
    await f.driver.undefineNetwork("routed");
    const mine = f.events.filter((e) => e.name === "network.lifecycle").map((e) => `${(e.payload as { name: string }).name}:${(e.payload as { event: string }).event}`);
    expect(mine).toEqual(["natnet:defined", "natnet:started", "natnet:stopped", "iso:defined", "iso:started", "iso:stopped", "routed:defined", "routed:started", "routed:stopped", "routed:undefined"]);
  });

  it("definitions persist: a new driver on the same state directory lists them", async () => {
    const { NetDriver } = await import("../../../agent/drivers/net/driver.js");
    const { EventBus } = await import("../../../agent/core/bus.js");
    const { silentLogger } = await import("../../../agent/core/log.js");
    const again = new NetDriver({ ...f.dirs, bus: new EventBus(), log: silentLogger(), netns: f.ns });
    await again.open();
    expect(again.listNetworks().map((n) => n.name)).toEqual(["iso", "natnet"]);
    expect(again.getNetworkXml("natnet")).toContain("<ip family='ipv6' address='fd42:150::1' prefix='64'/>");
  });

  it("a restarted agent re-adopts a running network without rebuilding it and autostarts the others", async () => {
    const { NetDriver } = await import("../../../agent/drivers/net/driver.js");
    const { EventBus } = await import("../../../agent/core/bus.js");
    const { silentLogger } = await import("../../../agent/core/log.js");
    await f.driver.startNetwork("iso");
    await f.driver.setAutostart("natnet", true);
    const pid = readFileSync(dnsmasqFiles(f.dirs, "iso").pidFile, "utf8").trim();
    const again = new NetDriver({ ...f.dirs, bus: new EventBus(), log: silentLogger(), netns: f.ns });
    await again.open();
    expect(again.getNetwork("iso").active).toBe(true);
    expect(readFileSync(dnsmasqFiles(f.dirs, "iso").pidFile, "utf8").trim()).toBe(pid);
    expect(again.getNetwork("natnet").active).toBe(true);
    expect(ok(f.ns, "ip", "link", "show", "vbr-nat")).toBe(true);
    await again.stopNetwork("natnet");
    await again.stopNetwork("iso");
    expect(processGone(pid)).toBe(true);
  });
});
