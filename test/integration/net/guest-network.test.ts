import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBus } from "../../../agent/core/bus.js";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { makeTempDirs, QEMU_BINARY, requireQemu, type TempDirs } from "../qemu/helpers.js";
import { buildNetGuestImage } from "./net-guest-image.js";
import { netFixture, ok, requireTools, run, type NetFixture } from "./netns.js";

const NET = `<network>
  <name>guestnet</name>
  <forward mode='nat'/>
  <bridge name='vbr-guest'/>
  <ip address='192.168.160.1' prefix='24'>
    <dhcp>
      <range start='192.168.160.100' end='192.168.160.150'/>
      <host mac='52:54:00:00:16:0a' ip='192.168.160.10'/>
      <host mac='52:54:00:00:16:0b' ip='192.168.160.11'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd42:160::1' prefix='64'/>
</network>`;

/** SLAAC (EUI-64) address of a MAC in fd42:160::/64. */
function slaac(mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  const g = [((b[0] ?? 0) ^ 2) << 8 | (b[1] ?? 0), (b[2] ?? 0) << 8 | 0xff, 0xfe00 | (b[3] ?? 0), (b[4] ?? 0) << 8 | (b[5] ?? 0)];
  return `fd42:160::${g.map((x) => x.toString(16)).join(":")}`;
}

const GUESTS = [
  { name: "netprobe-a", mac: "52:54:00:00:16:0a", peer: "52:54:00:00:16:0b", peer4: "192.168.160.11" },
  { name: "netprobe-b", mac: "52:54:00:00:16:0b", peer: "52:54:00:00:16:0a", peer4: "192.168.160.10" },
];

let f: NetFixture;
let dirs: TempDirs;
let qemu: QemuDriver;
const uuids: string[] = [];

function domainXml(g: (typeof GUESTS)[number], img: { kernel: string; initrd: string; cmdline: string }): string {
  const cmdline = `${img.cmdline} br4=192.168.160.1 br6=fd42:160::1 peer4=${g.peer4} peer6=${slaac(g.peer)}`;
  return `<domain type='qemu'><name>${g.name}</name><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${img.kernel}</kernel><initrd>${img.initrd}</initrd><cmdline>${cmdline}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <interface type='network'><source network='guestnet'/><mac address='${g.mac}'/><model type='e1000'/></interface>
    <serial type='file'><source path='${join(dirs.root, `${g.name}.log`)}'/><target port='0'/></serial>
  </devices></domain>`;
}

function serial(name: string): string {
  try {
    return readFileSync(join(dirs.root, `${name}.log`), "utf8");
  } catch {
    return "";
  }
}

async function waitDone(name: string, ms: number): Promise<string> {
  const end = Date.now() + ms;
  while (!serial(name).includes("NET-DONE")) {
    if (Date.now() > end) throw new Error(`${name} did not finish; serial tail:\n${serial(name).slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return serial(name);
}

beforeAll(async () => {
  requireTools();
  requireQemu();
  const img = await buildNetGuestImage();
  f = await netFixture("guest");
  dirs = makeTempDirs("vb-netguest-");
  await f.driver.defineNetwork(NET);
  await f.driver.startNetwork("guestnet");
  const log = silentLogger();
  qemu = new QemuDriver({ store: new StateStore(), bus: new EventBus(log), log, stateDir: dirs.stateDir, runDir: dirs.runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000, openTaps: f.driver.openTaps });
  await qemu.open();
  for (const g of GUESTS) {
    const { view } = await qemu.defineDomain(domainXml(g, img));
    uuids.push(view.uuid);
    await qemu.startDomain(view.uuid);
  }
}, 180_000);

afterAll(async () => {
  for (const u of uuids) await qemu?.destroyDomain(u).catch(() => undefined);
  await qemu?.close();
  f?.cleanup();
  dirs?.cleanup();
});

describe("two TCG guests on a nat network with IPv4 DHCP and an IPv6 ULA prefix", () => {
  it("both guests get their DHCP host address, a SLAAC address and reach the bridge and each other over IPv4 and IPv6", async () => {
    for (const g of GUESTS) {
      const out = await waitDone(g.name, 150_000);
      const results = [...out.matchAll(/^RESULT (\S+) (.*?)\r?$/gm)].map((m) => `${m[1]} ${m[2]}`);
      expect(results).toEqual([
        `dhcp4 ok ${g.mac === GUESTS[0]?.mac ? "192.168.160.10" : "192.168.160.11"}/24`,
        `slaac ${slaac(g.mac)}/64`,
        "bridge4 ok",
        "bridge6 ok",
        "peer4 ok",
        "peer6 ok",
      ]);
    }
  }, 300_000);

  it("the network's leases list both guests", async () => {
    const leases = await f.driver.getDhcpLeases("guestnet");
    expect(leases.map((l) => `${l.mac} ${l.ipAddress}`).sort()).toEqual(["52:54:00:00:16:0a 192.168.160.10", "52:54:00:00:16:0b 192.168.160.11"]);
  });

  it("the guests' taps are on the bridge while they run, named in their live XML as libvirt does, and gone once they are destroyed", async () => {
    const ports = run(f.ns, "ip", "-o", "link", "show", "master", "vbr-guest");
    const taps = [...ports.matchAll(/^\d+: (vnet\d+)/gm)].map((m) => m[1] ?? "");
    expect(taps).toHaveLength(2);
    const named = uuids.map((u) => qemu.getDomainDef(u).devices.interfaces[0]?.target?.dev);
    expect([...named].sort()).toEqual([...taps].sort());
    expect(await qemu.getDomainXml(uuids[0]!)).toContain(`<target dev='${named[0]!}'/>`);
    expect(qemu.getDomainDef(uuids[0]!, { inactive: true }).devices.interfaces[0]?.target).toBeUndefined(); // the definition keeps none
    for (const u of uuids) await qemu.destroyDomain(u);
    await new Promise((r) => setTimeout(r, 300));
    for (const t of taps) expect(ok(f.ns, "ip", "link", "show", t)).toBe(false);
  });
});
