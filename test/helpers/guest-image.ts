/**
 * Builds the tiny Linux guest the send-key tests type into: Debian's own kernel
 * (linux-image-amd64 resolved to the real linux-image-<abi>-amd64 package) and
 * busybox-static, fetched with `apt-get download` into test/.cache/guest (gitignored),
 * unpacked with `dpkg-deb -x`, and an initramfs (cpio newc, gzip) written here at test time.
 *
 * The guest's /init prints one line per EV_KEY record of every /dev/input/event* to the
 * serial console (`EVR <dev> <4 timeval words> <type> <code> <value>`) and echoes each line typed on the VT keyboard
 * (`LINE <text>`); it prints `VIRTBUS-READY` once both readers hold their devices open.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { execa } from "execa";

export const GUEST_CACHE = resolve(dirname(fileURLToPath(import.meta.url)), "../.cache/guest");

export interface GuestImage {
  kernel: string;
  initrd: string;
  /** Kernel command line for a serial console and a quiet boot. */
  cmdline: string;
}

/** Runs a host tool; a missing tool fails with the Debian package to install. */
async function tool(cmd: string, args: string[], pkg: string, cwd?: string): Promise<string> {
  try {
    return (await execa(cmd, args, cwd === undefined ? {} : { cwd })).stdout;
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.code === "ENOENT") throw new Error(`${cmd} not found: install the Debian package "${pkg}"`);
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err.message}`);
  }
}

/** linux-image-amd64 is a metapackage; its Depends names the real kernel package. */
async function resolveKernelPackage(): Promise<string> {
  const out = await tool("apt-cache", ["depends", "linux-image-amd64"], "apt");
  const m = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(out);
  if (!m?.[1]) throw new Error(`cannot resolve linux-image-amd64 to a kernel package:\n${out}`);
  return m[1];
}

async function fetchDebs(): Promise<void> {
  mkdirSync(GUEST_CACHE, { recursive: true });
  const debs = readdirSync(GUEST_CACHE).filter((f) => f.endsWith(".deb"));
  const need: string[] = [];
  if (!debs.some((f) => /^linux-image-[0-9].*-amd64_/.test(f))) need.push(await resolveKernelPackage());
  if (!debs.some((f) => f.startsWith("busybox-static_"))) need.push("busybox-static");
  if (need.length > 0) await tool("apt-get", ["download", ...need], "apt", GUEST_CACHE);
  const root = join(GUEST_CACHE, "root");
  if (existsSync(join(root, "bin/busybox")) && existsSync(join(root, "boot"))) return;
  mkdirSync(root, { recursive: true });
  for (const deb of readdirSync(GUEST_CACHE).filter((f) => f.endsWith(".deb"))) {
    await tool("dpkg-deb", ["-x", join(GUEST_CACHE, deb), root], "dpkg");
  }
}

type Entry = { name: string; mode: number; data?: Buffer; rdev?: [number, number] };

/** One cpio "newc" record: 110-byte ASCII header, name, data, each padded to 4 bytes. */
function cpioRecord(e: Entry, ino: number): Buffer {
  const data = e.data ?? Buffer.alloc(0);
  const name = Buffer.from(`${e.name}\0`);
  const fields = [ino, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
  const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}`);
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  return Buffer.concat([header, name, pad(header.length + name.length), data, pad(data.length)]);
}

export function cpioArchive(entries: Entry[]): Buffer {
  const records = entries.map((e, i) => cpioRecord(e, i + 1));
  records.push(cpioRecord({ name: "TRAILER!!!", mode: 0 }, 0));
  return Buffer.concat(records);
}

/** The guest's /init (busybox sh). Kept here, not in a file, so the image is built from one place. */
export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /evdev.ko
sleep 1
for dev in /dev/input/event*; do
  # One line per 24-byte input_event (x86_64: tv_sec, tv_usec, type, code, value); one
  # long-lived reader per device so a burst of keys never overflows the evdev buffer.
  n=\${dev#/dev/input/event}
  # Separators lead each field: busybox drops a unit's trailing space on its last iteration.
  hexdump -v -e "\\"EVR $n\\" 4/4 \\" %u\\" 2/2 \\" %u\\" 1/4 \\" %d\\" \\"\\\\n\\"" "$dev" &
done
exec 4</dev/tty1
( while read -r line <&4; do echo "LINE $line"; done ) &
echo VIRTBUS-READY
while :; do sleep 3600; done
`;

/** Downloads (once) and builds the guest; returns paths for -kernel/-initrd. */
export async function buildGuestImage(): Promise<GuestImage> {
  await fetchDebs();
  const root = join(GUEST_CACHE, "root");
  const vmlinuz = readdirSync(join(root, "boot")).find((f) => f.startsWith("vmlinuz-"));
  if (!vmlinuz) throw new Error(`no vmlinuz in ${root}/boot`);
  const abi = vmlinuz.slice("vmlinuz-".length);
  const evdev = readFileSync(join(root, "lib/modules", abi, "kernel/drivers/input/evdev.ko"));
  const dirs = ["bin", "dev", "proc", "sys", "tmp"].map((name) => ({ name, mode: 0o040755 }));
  const archive = cpioArchive([
    ...dirs,
    { name: "dev/console", mode: 0o020600, rdev: [5, 1] },
    { name: "bin/busybox", mode: 0o100755, data: readFileSync(join(root, "bin/busybox")) },
    { name: "evdev.ko", mode: 0o100644, data: evdev },
    { name: "init", mode: 0o100755, data: Buffer.from(INIT_SCRIPT) },
  ]);
  const initrd = join(GUEST_CACHE, "initrd-keys.cpio.gz");
  writeFileSync(initrd, gzipSync(archive, { level: 1 }));
  return { kernel: join(root, "boot", vmlinuz), initrd, cmdline: "console=ttyS0 quiet loglevel=1 panic=-1" };
}
