import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNetns, delNetns, netFixture, requireTools, run, type NetFixture } from "./netns.js";

const NAT = `<network>
  <name>dhcpnet</name>
  <forward mode='nat'/>
  <bridge name='vbr-dhcp'/>
  <ip address='192.168.155.1' prefix='24'>
    <dhcp>
      <range start='192.168.155.100' end='192.168.155.110'/>
      <host mac='52:54:00:00:00:42' ip='192.168.155.42'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd42:155::1' prefix='64'/>
</network>`;

let f: NetFixture;
let client: string;

/** A veth "guest": one end on the bridge in the agent's namespace, the other in `client`. */
function plugClient(mac: string): void {
  run(f.ns, "ip", "link", "add", "vb-host", "type", "veth", "peer", "name", "vb-guest", "netns", client);
  run(f.ns, "ip", "link", "set", "vb-host", "master", "vbr-dhcp", "up");
  run(client, "ip", "link", "set", "vb-guest", "address", mac, "up");
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  requireTools();
  f = await netFixture("dhcp");
  client = addNetns("dhcpc");
  await f.driver.defineNetwork(NAT);
  await f.driver.startNetwork("dhcpnet");
  plugClient("52:54:00:00:00:07");
});
afterAll(() => {
  delNetns(client ?? "");
  f?.cleanup();
});

describe("DHCP and router advertisements from a started network", () => {
  it("busybox udhcpc on a client gets a lease from the range and the lease is readable", async () => {
    // -s /bin/true: only the exchange matters; the test configures the address itself.
    // With STP on (libvirt's default) a new bridge port forwards after 2 x 2 s, so retry for 12 s.
    const r = spawnSync("ip", ["netns", "exec", client, "busybox", "udhcpc", "-i", "vb-guest", "-n", "-q", "-t", "12", "-T", "1", "-s", "/bin/true"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const leases = await f.driver.getDhcpLeases("dhcpnet");
    const v4 = leases.find((l) => l.mac === "52:54:00:00:00:07");
    expect(v4?.type).toBe("ipv4");
    const last = Number(v4?.ipAddress.split(".")[3]);
    expect(v4?.ipAddress.startsWith("192.168.155.")).toBe(true);
    expect(last >= 100 && last <= 110).toBe(true);
  });

  it("the client reaches the bridge over IPv4 with its leased address", async () => {
    const leases = await f.driver.getDhcpLeases("dhcpnet");
    const ip = leases.find((l) => l.mac === "52:54:00:00:00:07")?.ipAddress ?? "";
    run(client, "ip", "addr", "add", `${ip}/24`, "dev", "vb-guest");
    expect(run(client, "busybox", "ping", "-c", "1", "-W", "2", "192.168.155.1")).toContain("1 packets received");
  });

  it("the client configures an IPv6 address in the prefix by SLAAC and pings the bridge", async () => {
    const addr = await waitFor("a SLAAC address", () => {
      const m = /inet6 (fd42:155:[0-9a-f:]+)\/64 scope global (?!tentative)/.exec(run(client, "ip", "-6", "-o", "addr", "show", "dev", "vb-guest"));
      return m?.[1];
    });
    expect(addr.startsWith("fd42:155::")).toBe(true);
    expect(run(client, "busybox", "ping", "-6", "-c", "1", "-W", "2", "fd42:155::1")).toContain("1 packets received");
  });
});
