/**
 * probeHostCapabilities(): the host's procfs/sysfs facts combined with what the installed
 * QEMU binaries report, as model/capabilities' HostCapabilities. Used by `host.capabilities`
 * and meant for the AMQP state snapshot.
 */
import { access, constants as fsc } from "node:fs/promises";
import { machine } from "node:os";
import { guestMachines, type GuestCaps, type GuestFeature, type HostCapabilities, type HostCpu, type MachineInput } from "../../model/capabilities.js";
import { probeQemu } from "../qemu/caps.js";
import { readCacheBanks } from "./cache.js";
import { cpuFeatures, cpuModelName } from "./cpu-model.js";
import { parseCpuinfo, vendorName } from "./cpuinfo.js";
import { readHostUuid, readIommu, readPowerManagement, readSecModels } from "./platform.js";
import { readText } from "./sysfs.js";
import { readHugepageSizes, readNumaCells, summariseTopology } from "./topology.js";

/** What a guest arch needs from its QEMU binary (drivers/qemu/caps.ts's QemuCaps fits). */
export interface EmulatorInfo {
  machines: readonly MachineInput[];
  kvm: boolean;
}

/** Probes one emulator; undefined when it is not installed (the guest arch is then left out). */
export type EmulatorProbe = (binary: string) => Promise<EmulatorInfo | undefined>;

export interface GuestArchSpec {
  arch: string;
  wordsize: number;
  emulator: string;
}

export interface HostProbeOptions {
  /** Root of the procfs/sysfs/etc tree; "/" on a live host, a fixture directory in tests. */
  root?: string;
  guests?: readonly GuestArchSpec[];
  probeEmulator?: EmulatorProbe;
}

export const DEFAULT_GUESTS: readonly GuestArchSpec[] = [
  { arch: "x86_64", wordsize: 64, emulator: "/usr/bin/qemu-system-x86_64" },
  { arch: "i686", wordsize: 32, emulator: "/usr/bin/qemu-system-i386" },
];

const TOGGLED_ON_FIXED: GuestFeature["toggle"] = { default: "on", toggle: false };

/** libvirt's QEMU guest features for x86: 32-bit guests add the pae/nonpae pair first. */
function guestFeatures(wordsize: number): GuestFeature[] {
  return [
    ...(wordsize === 32 ? [{ name: "pae" }, { name: "nonpae" }] : []),
    { name: "acpi", toggle: { default: "on", toggle: true } },
    { name: "apic", toggle: TOGGLED_ON_FIXED },
    { name: "cpuselection" },
    { name: "deviceboot" },
    { name: "disksnapshot", toggle: TOGGLED_ON_FIXED },
  ];
}

/** The installed QEMU's answer, or undefined when the binary is absent or not executable. */
export const defaultEmulatorProbe: EmulatorProbe = async (binary) => {
  try {
    await access(binary, fsc.X_OK);
  } catch {
    return undefined;
  }
  return probeQemu(binary);
};

async function probeGuest(spec: GuestArchSpec, probe: EmulatorProbe): Promise<GuestCaps | undefined> {
  const info = await probe(spec.emulator);
  if (info === undefined) return undefined;
  return {
    osType: "hvm",
    arch: spec.arch,
    wordsize: spec.wordsize,
    emulator: spec.emulator,
    machines: guestMachines(info.machines),
    domainTypes: info.kvm ? ["qemu", "kvm"] : ["qemu"],
    features: guestFeatures(spec.wordsize),
  };
}

async function probeCpu(root: string, topology: HostCpu["topology"]): Promise<HostCpu> {
  const [cpuinfoText, arch, hugepages] = await Promise.all([
    readText(root, "proc/cpuinfo"),
    readText(root, "proc/sys/kernel/arch"),
    readHugepageSizes(root),
  ]);
  const info = parseCpuinfo(cpuinfoText ?? "");
  const sig = info.family !== undefined && info.model !== undefined ? { family: info.family, model: info.model, stepping: info.stepping ?? 0 } : undefined;
  return {
    arch: arch ?? machine(),
    model: cpuModelName(info),
    vendor: vendorName(info.vendorId),
    microcode: info.microcode,
    signature: sig,
    topology,
    features: cpuFeatures(info.flags),
    pageSizesKib: [4, ...hugepages],
  };
}

/**
 * Probes the host (best-effort: facts the kernel does not expose are left out) and each
 * guest arch whose emulator is installed.
 * @throws AgentError operation_failed when no host uuid can be determined or a QEMU binary
 *   that exists cannot be probed.
 */
export async function probeHostCapabilities(opts: HostProbeOptions = {}): Promise<HostCapabilities> {
  const root = opts.root ?? "/";
  const probe = opts.probeEmulator ?? defaultEmulatorProbe;
  const [uuid, cells, cacheBanks, pm, iommu, secModels] = await Promise.all([
    readHostUuid(root),
    readNumaCells(root),
    readCacheBanks(root),
    readPowerManagement(root),
    readIommu(root),
    readSecModels(root),
  ]);
  const cpu = await probeCpu(root, summariseTopology(cells));
  const guests = await Promise.all((opts.guests ?? DEFAULT_GUESTS).map((g) => probeGuest(g, probe)));
  return {
    host: {
      uuid,
      cpu,
      powerManagement: pm.targets,
      memSleep: pm.memSleep,
      iommu,
      // Live migration over TCP is the transport the agent's QEMU command line supports.
      migration: { live: true, uriTransports: ["tcp"] },
      cells,
      cacheBanks,
      secModels,
    },
    guests: guests.filter((g): g is GuestCaps => g !== undefined),
  };
}
