/**
 * libvirt 9 as the benchmarks' reference: starts virtlogd + libvirtd when they are not
 * running (and stops what it started), and gives /dev/kvm the owner and mode Debian's
 * udev rule gives it on a normal host (root:kvm 0660). Without that, libvirtd finds KVM
 * "enabled when probing but not available now" for its qemu user and re-probes QEMU's
 * capabilities on every call (~4 s per start), which would make the comparison unfair.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";

export function virsh(args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function libvirtMissing(): string | undefined {
  try {
    execFileSync("which", ["virsh", "libvirtd"]);
    execFileSync("/usr/bin/python3", ["-c", "import libvirt"]);
    return undefined;
  } catch {
    return "libvirt not installed (apt-get install libvirt-daemon-system libvirt-clients python3-libvirt)";
  }
}

function kvmGroupId(): number | undefined {
  const line = readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith("kvm:"));
  return line === undefined ? undefined : Number(line.split(":")[2]);
}

/** Returns a note when /dev/kvm had to be changed to Debian's usual root:kvm 0660. */
export function prepareKvmDevice(): string | undefined {
  if (!existsSync("/dev/kvm")) return undefined;
  const gid = kvmGroupId();
  const st = statSync("/dev/kvm");
  if (gid === undefined || (st.gid === gid && (st.mode & 0o060) === 0o060)) return undefined;
  execFileSync("chgrp", ["kvm", "/dev/kvm"]);
  execFileSync("chmod", ["0660", "/dev/kvm"]);
  return "/dev/kvm set to root:kvm 0660 (Debian's udev default) so libvirtd's caps cache stays valid";
}

/** Starts virtlogd + libvirtd when not running; returns whether we started them. */
export function ensureLibvirtd(): boolean {
  try {
    virsh(["version"]);
    return false;
  } catch {
    execFileSync("virtlogd", ["-d"]);
    execFileSync("libvirtd", ["-d"]);
    for (let i = 0; i < 150; i++) {
      try {
        virsh(["version"]);
        return true;
      } catch {
        execFileSync("sleep", ["0.2"]);
      }
    }
    throw new Error("libvirtd did not come up");
  }
}

export function stopLibvirtd(): void {
  for (const pidfile of ["/run/libvirtd.pid", "/run/virtlogd.pid"]) {
    try {
      process.kill(Number(readFileSync(pidfile, "utf8").trim()), "SIGTERM");
    } catch {
      /* not running */
    }
  }
}
