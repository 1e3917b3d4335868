/**
 * Issue #6 must-show: the direction of libvirt_domain_interface_stats_* on a real tap. One TCG
 * guest on a nat network inside a test namespace; traffic goes one way at a time (neither side
 * answers pings), and the exporter must count bytes into the guest as "receive" and bytes out
 * of it as "transmit" (DESIGN.md §3: the tap's host view, swapped).
 *
 * The agent side runs in a child process inside the namespace (interface-direction-stack.ts):
 * tap counters live in the sysfs of the namespace that holds the tap.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGuestImage, cpioArchive, GUEST_CACHE } from "../../helpers/guest-image.js";
import { addNetns, delNetns, requireTools, run } from "../net/netns.js";
import { requireQemu } from "../qemu/helpers.js";
import { parseExposition, valueOf, type Samples } from "../../unit/exporters/prometheus/exposition.js";
import type { StackArgs } from "./interface-direction-stack.js";

const STACK = join(dirname(fileURLToPath(import.meta.url)), "interface-direction-stack.ts");
const COUNT = 100;
const PAYLOAD = 1400;
const BRIDGE_IP = "192.168.171.1";
const GUEST_IP = "192.168.171.10";
const GUEST_MAC = "52:54:00:00:17:0a";
const DOMAIN = "ifdir-guest";

const NETWORK = `<network><name>ifdir</name><forward mode='nat'/><bridge name='vbr-ifdir'/>
  <ip address='${BRIDGE_IP}' prefix='24'><dhcp><range start='192.168.171.100' end='192.168.171.150'/>
  <host mac='${GUEST_MAC}' ip='${GUEST_IP}'/></dhcp></ip></network>`;

const DHCP_SCRIPT = `#!/bin/busybox sh
[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface"
exit 0
`;

/**
 * The guest answers no pings and has no IPv6, so what the host sends stays one-way. After its
 * lease it waits for one TCP connection on port 7000 (the test's "go"), then sends COUNT pings
 * of PAYLOAD bytes to the bridge, which the namespace does not answer either.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /e1000.ko
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all
ip link set lo up
ip link set eth0 up
if udhcpc -i eth0 -q -n -t 30 -T 1 -s /dhcp.sh >/dev/null 2>&1; then echo "GUEST-READY $(ip -4 -o addr show dev eth0 | awk '{print $4}')"; else echo GUEST-NO-LEASE; fi
nc -l -p 7000 >/dev/null
echo GUEST-SENDING
ping -q -c ${COUNT} -s ${PAYLOAD} -i 0.02 -W 1 ${BRIDGE_IP} >/dev/null 2>&1
echo GUEST-SENT
while :; do sleep 3600; done
`;

async function buildImage(): Promise<{ kernel: string; initrd: string; cmdline: string }> {
  const base = await buildGuestImage();
  const root = join(GUEST_CACHE, "root");
  const abi = readdirSync(join(root, "lib/modules"))[0] ?? "";
  const archive = cpioArchive([
    ...["bin", "dev", "proc", "sys", "tmp"].map((name) => ({ name, mode: 0o040755 })),
    { name: "dev/console", mode: 0o020600, rdev: [5, 1] },
    { name: "bin/busybox", mode: 0o100755, data: readFileSync(join(root, "bin/busybox")) },
    { name: "e1000.ko", mode: 0o100644, data: readFileSync(join(root, "lib/modules", abi, "kernel/drivers/net/ethernet/intel/e1000/e1000.ko")) },
    { name: "dhcp.sh", mode: 0o100755, data: Buffer.from(DHCP_SCRIPT) },
    { name: "init", mode: 0o100755, data: Buffer.from(INIT) },
  ]);
  const initrd = join(GUEST_CACHE, "initrd-ifdir.cpio.gz");
  writeFileSync(initrd, gzipSync(archive, { level: 1 }));
  return { kernel: base.kernel, initrd, cmdline: base.cmdline };
}

function domainXml(img: { kernel: string; initrd: string; cmdline: string }, serialLog: string): string {
  return `<domain type='qemu'><name>${DOMAIN}</name><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${img.kernel}</kernel><initrd>${img.initrd}</initrd><cmdline>${img.cmdline}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <interface type='network'><source network='ifdir'/><mac address='${GUEST_MAC}'/><model type='e1000'/></interface>
    <serial type='file'><source path='${serialLog}'/><target port='0'/></serial>
  </devices></domain>`;
}

let ns = "";
let dir = "";
let child: ChildProcess | undefined;
let childOut = "";
let port = 0;

const serial = (): string => {
  try {
    return readFileSync(join(dir, "serial.log"), "utf8");
  } catch {
    return "";
  }
};

async function waitFor(what: () => boolean, label: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`${label} did not happen within ${ms} ms; agent output:\n${childOut.slice(-1500)}\nserial tail:\n${serial().slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts the agent side inside the namespace; resolves with the exporter's port. */
async function startStack(args: StackArgs): Promise<number> {
  child = spawn("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", STACK, JSON.stringify(args)], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (childOut += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (childOut += d.toString()));
  await waitFor(() => childOut.includes('"port"') || child?.exitCode !== null, "the agent stack start", 60_000);
  const m = /\{"port":(\d+)/.exec(childOut);
  if (!m) throw new Error(`the agent stack failed:\n${childOut}`);
  return Number(m[1]);
}

async function stopStack(): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child?.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
}

/** A real HTTP scrape from inside the namespace (busybox wget), parsed. */
function scrape(): Samples {
  return parseExposition(run(ns, "busybox", "wget", "-q", "-O", "-", `http://127.0.0.1:${port}/metrics`));
}

function nic(s: Samples, dirn: "receive" | "transmit"): number {
  const v = valueOf(s, `libvirt_domain_interface_stats_${dirn}_bytes_total`, { domain: DOMAIN });
  if (v === undefined) throw new Error(`no ${dirn}_bytes series for ${DOMAIN}`);
  return v;
}

beforeAll(async () => {
  requireTools();
  requireQemu();
  const img = await buildImage();
  ns = addNetns("ifdir");
  dir = mkdtempSync(join(tmpdir(), "vb-ifdir-"));
  // The namespace answers no pings: the guest's pings to the bridge stay one-way.
  run(ns, "sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1");
  port = await startStack({ dir, networkName: "ifdir", networkXml: NETWORK, domainXml: domainXml(img, join(dir, "serial.log")) });
  await waitFor(() => /GUEST-READY|GUEST-NO-LEASE/.test(serial()), "the guest's DHCP lease", 120_000);
  expect(serial()).toContain(`GUEST-READY ${GUEST_IP}/24`);
}, 200_000);

afterAll(async () => {
  await stopStack();
  // Whatever is left in the namespace (QEMU, dnsmasq) is killed with it.
  if (ns) delNetns(ns);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("interface stats direction on a real tap in a test namespace", () => {
  it("bytes the namespace sends into a silent guest count as received by the guest, not transmitted", () => {
    const before = scrape();
    const r = spawnSync("ip", ["netns", "exec", ns, "busybox", "ping", "-q", "-c", `${COUNT}`, "-s", `${PAYLOAD}`, "-i", "0.02", "-W", "1", GUEST_IP], { encoding: "utf8" });
    expect(r.stdout).toContain(`${COUNT} packets transmitted, 0 packets received`);
    const after = scrape();
    const rx = nic(after, "receive") - nic(before, "receive");
    const tx = nic(after, "transmit") - nic(before, "transmit");
    expect(rx, `guest rx ${rx} B, tx ${tx} B`).toBeGreaterThanOrEqual(COUNT * PAYLOAD);
    expect(tx, `guest rx ${rx} B, tx ${tx} B`).toBeLessThan(rx / 20);
  });

  it("bytes the guest sends to the namespace count as transmitted by the guest, not received", async () => {
    const before = scrape();
    // The "go": one TCP connection to the guest's nc, a few small packets each way.
    const go = spawnSync("ip", ["netns", "exec", ns, process.execPath, "-e", `const s=require("net").connect(7000,"${GUEST_IP}",()=>s.end("go\\n"));s.on("error",e=>{console.error(e);process.exit(1)})`], { encoding: "utf8", timeout: 20_000 });
    expect(go.status, go.stderr).toBe(0);
    await waitFor(() => serial().includes("GUEST-SENT"), "the guest's pings", 60_000);
    const after = scrape();
    const rx = nic(after, "receive") - nic(before, "receive");
    const tx = nic(after, "transmit") - nic(before, "transmit");
    expect(tx, `guest tx ${tx} B, rx ${rx} B`).toBeGreaterThanOrEqual(COUNT * PAYLOAD);
    expect(rx, `guest tx ${tx} B, rx ${rx} B`).toBeLessThan(tx / 20);
  }, 90_000);

  it("every counter series of the guest is monotonic across two scrapes", () => {
    const first = scrape();
    spawnSync("ip", ["netns", "exec", ns, "busybox", "ping", "-q", "-c", "5", "-i", "0.02", "-W", "1", GUEST_IP]);
    const second = scrape();
    const counters = [...first.keys()].filter((k) => /^libvirt_domain_\w+_total\{/.test(k) && k.includes(`domain="${DOMAIN}"`));
    expect(counters.length).toBeGreaterThanOrEqual(8);
    for (const k of counters) expect(second.get(k), k).toBeGreaterThanOrEqual(first.get(k) ?? Infinity);
    expect(nic(second, "receive")).toBeGreaterThan(nic(first, "receive"));
  });
});
