/**
 * The network probe guest: the same Debian kernel and busybox as test/helpers/guest-image.ts
 * with its own /init, which loads e1000, takes a DHCPv4 lease (busybox udhcpc), waits for a
 * SLAAC address from the router advertisements, then pings the bridge and its peer over
 * IPv4 and IPv6 (peer and bridge addresses come from the kernel command line) and prints
 * `RESULT <what> ok|fail` lines and `NET-DONE` on the serial console.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildGuestImage, cpioArchive, GUEST_CACHE } from "../../helpers/guest-image.js";

const DHCP_SCRIPT = `#!/bin/busybox sh
# udhcpc exports ip and mask (prefix length) for "bound".
[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface"
exit 0
`;

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /e1000.ko
ip link set lo up
ip link set eth0 up
for a in $(cat /proc/cmdline); do
  case "$a" in peer4=*) P4=\${a#peer4=};; peer6=*) P6=\${a#peer6=};; br4=*) B4=\${a#br4=};; br6=*) B6=\${a#br6=};; esac
done
if udhcpc -i eth0 -q -n -t 30 -T 1 -s /dhcp.sh >/dev/null 2>&1; then echo "RESULT dhcp4 ok $(ip -4 -o addr show dev eth0 | awk '{print $4}')"; else echo "RESULT dhcp4 fail"; fi
n=0
until ip -6 -o addr show dev eth0 scope global | grep -v tentative | grep -q inet6; do n=$((n+1)); [ $n -gt 60 ] && break; sleep 0.5; done
echo "RESULT slaac $(ip -6 -o addr show dev eth0 scope global | awk '{print $4}')"
probe() { i=0; until ping $1 -c 1 -W 1 $2 >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 60 ] && { echo "RESULT $3 fail"; return; }; sleep 0.5; done; echo "RESULT $3 ok"; }
probe -4 "$B4" bridge4
probe -6 "$B6" bridge6
probe -4 "$P4" peer4
probe -6 "$P6" peer6
echo NET-DONE
while :; do sleep 3600; done
`;

/** Builds (each call) the initrd; returns kernel/initrd paths and the base command line. */
export async function buildNetGuestImage(): Promise<{ kernel: string; initrd: string; cmdline: string }> {
  const base = await buildGuestImage();
  const root = join(GUEST_CACHE, "root");
  const abi = readdirSync(join(root, "lib/modules"))[0] ?? "";
  const e1000 = readFileSync(join(root, "lib/modules", abi, "kernel/drivers/net/ethernet/intel/e1000/e1000.ko"));
  const archive = cpioArchive([
    ...["bin", "dev", "proc", "sys", "tmp"].map((name) => ({ name, mode: 0o040755 })),
    { name: "dev/console", mode: 0o020600, rdev: [5, 1] },
    { name: "bin/busybox", mode: 0o100755, data: readFileSync(join(root, "bin/busybox")) },
    { name: "e1000.ko", mode: 0o100644, data: e1000 },
    { name: "dhcp.sh", mode: 0o100755, data: Buffer.from(DHCP_SCRIPT) },
    { name: "init", mode: 0o100755, data: Buffer.from(INIT) },
  ]);
  const initrd = join(GUEST_CACHE, "initrd-net.cpio.gz");
  writeFileSync(initrd, gzipSync(archive, { level: 1 }));
  return { kernel: base.kernel, initrd, cmdline: base.cmdline };
}
