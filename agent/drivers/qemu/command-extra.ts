/**
 * Pure argv fragments for the platform details libvirt writes (buildCommand): machine
 * properties (vmport, hpet), -cpu flags, -smp topology, RTC drift fix, PIT and S3/S4 globals,
 * and the sound, audio, rng and watchdog devices.
 */
import type { CpuDef, DomainDef, TimerDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { type BuildState, usbPorts } from "./command-devices.js";
import { pciPlacement } from "./command-pci.js";
import { idValue, onOff, optPath, opts } from "./qemu-opts.js";

function unsupported(message: string): never {
  throw new AgentError("config_unsupported", message, { component: "qemu" });
}

function timer(def: DomainDef, name: TimerDef["name"]): TimerDef | undefined {
  return def.clock?.timers?.find((t) => t.name === name);
}

/** Extra `-machine` properties: only those the XML sets, so QEMU's defaults stay visible. */
export function machineProps(def: DomainDef): Record<string, string | undefined> {
  const hpet = timer(def, "hpet")?.present;
  const pflash = def.os.loader === undefined ? {} : { pflash0: "pflash0-format", pflash1: "pflash1-format" };
  const smm = def.features.smm;
  return { vmport: def.features.vmport, hpet: hpet === undefined ? undefined : onOff(hpet), ...pflash, smm: smm === undefined ? undefined : onOff(smm) };
}

/** The `-add-fd` set the variable store's fd is in. */
const NVRAM_FDSET = 1;

/**
 * A pflash unit's storage and raw format nodes. From a path, the storage node opens
 * read-only until the device wants to write (auto-read-only); from an fd set it must be
 * read-write from the start, since the set holds only the read-write fd.
 */
function pflashNodes(n: 0 | 1, path: string, readOnly: boolean): string[] {
  const mode = path.startsWith("/dev/fdset/") ? { "read-only": onOff(readOnly) } : { "auto-read-only": "on" };
  const storage = opts("driver=file", { filename: optPath(path, `pflash${n} path`), "node-name": `pflash${n}-storage`, ...mode });
  const format = opts("driver=raw", { file: `pflash${n}-storage`, "node-name": `pflash${n}-format`, "read-only": onOff(readOnly) });
  return ["-blockdev", storage, "-blockdev", format];
}

/**
 * UEFI: the loader as read-only pflash0 and the guest's variable store as pflash1, wired
 * with `-machine pflash0=,pflash1=` (machineProps). Secure boot locks the flash to SMM.
 * The nvram file must exist: the driver creates it from its template at start (firmware.ts)
 * and hands it in opened (ctx.nvramFd) as fd set 1: the store lives in the agent's state
 * directory, where an unprivileged QEMU cannot look.
 */
export function firmwareArgs(def: DomainDef, st: BuildState): string[] {
  const { loader, nvram } = def.os;
  if (loader === undefined) return [];
  if (nvram === undefined) unsupported("a UEFI loader needs an <nvram> path");
  if (loader.secure === true && (st.family !== "q35" || def.features.smm !== true)) unsupported("secure boot needs a q35 machine and <smm state='on'/>");
  const secure = loader.secure === true ? ["-global", "driver=cfi.pflash01,property=secure,value=on"] : [];
  const fd = st.ctx.nvramFd;
  const store = fd === undefined ? pflashNodes(1, nvram.path, false) : ["-add-fd", `fd=${fd},set=${NVRAM_FDSET},opaque=nvram`, ...pflashNodes(1, `/dev/fdset/${NVRAM_FDSET}`, false)];
  return [...pflashNodes(0, loader.path, true), ...store, ...secure];
}

/** `<feature>` and `migratable` as -cpu properties appended to the model name. */
export function cpuFlags(cpu: CpuDef | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (cpu?.migratable !== undefined) out.migratable = onOff(cpu.migratable);
  for (const f of cpu?.features ?? []) out[idValue(f.name, "cpu feature name")] = f.policy === "disable" ? "off" : "on";
  return out;
}

/** `-smp N[,sockets,dies,cores,threads]`; the topology must multiply out to N. */
export function smpValue(def: DomainDef): string {
  const t = def.cpu?.topology;
  if (t === undefined) return String(def.vcpus);
  if (t.sockets * t.dies * t.cores * t.threads !== def.vcpus) {
    throw new AgentError("invalid_arg", `cpu topology does not multiply out to ${def.vcpus} vcpus`, { component: "qemu" });
  }
  return opts(String(def.vcpus), { sockets: t.sockets, dies: t.dies, cores: t.cores, threads: t.threads });
}

/** `-rtc`: catchup is QEMU's driftfix=slew (re-inject lost RTC ticks), as libvirt maps it. */
export function rtcValue(def: DomainDef): string {
  const slew = timer(def, "rtc")?.tickpolicy === "catchup" ? "slew" : undefined;
  return opts(`base=${def.clock?.offset ?? "utc"}`, { driftfix: slew });
}

/**
 * `-global` settings: the in-kernel PIT's lost tick policy (KVM only: TCG's userspace PIT
 * already delays), and S3/S4 advertised by the ACPI PM device of the chipset.
 */
export function globalArgs(def: DomainDef, st: BuildState): string[] {
  const out: string[] = [];
  if (timer(def, "pit")?.tickpolicy === "delay" && def.type === "kvm") out.push("-global", "kvm-pit.lost_tick_policy=delay");
  const pmDev = st.family === "pc" ? "PIIX4_PM" : "ICH9-LPC";
  const pm = def.pm;
  if (pm?.suspendToMem !== undefined) out.push("-global", `${pmDev}.disable_s3=${pm.suspendToMem ? 0 : 1}`);
  if (pm?.suspendToDisk !== undefined) out.push("-global", `${pmDev}.disable_s4=${pm.suspendToDisk ? 0 : 1}`);
  return out;
}

const SOUND_DEVICES = { ich6: "intel-hda", ich9: "ich9-intel-hda", ac97: "AC97" } as const;

/**
 * `-audiodev none` for every `<audio>` (and one implicit silent backend when sound cards
 * name none), then each card; HDA cards get the duplex codec libvirt gives them.
 */
export function soundArgs(def: DomainDef, st: BuildState): string[] {
  const sounds = def.devices.sounds ?? [];
  const audios = def.devices.audios ?? [];
  if (sounds.length === 0 && audios.length === 0) return [];
  const backends = audios.length > 0 ? audios.map((a) => a.id) : [0];
  const out = audios.length > 0 ? audios.flatMap((a) => ["-audiodev", `${a.type},id=audio${a.id}`]) : ["-audiodev", "none,id=audio0"];
  sounds.forEach((s, i) => {
    const audiodev = `audio${s.audioId ?? backends[0] ?? 0}`;
    const id = `sound${i}`;
    const where = pciPlacement(st, s.address, `sound ${i}`);
    if (s.model === "ac97") {
      out.push("-device", opts("AC97", { audiodev, id, ...where }));
      return;
    }
    out.push("-device", opts(SOUND_DEVICES[s.model], { id, ...where }));
    out.push("-device", opts("hda-duplex", { id: `${id}-codec0`, bus: `${id}.0`, cad: 0, audiodev }));
  });
  return out;
}

/** USB redirection ports for the spice client: a spicevmc "usbredir" chardev each, on usb-redir. */
export function redirdevArgs(def: DomainDef): string[] {
  const ports = usbPorts(def).redirs;
  return (def.devices.redirdevs ?? []).flatMap((_, i) => [
    "-chardev", `spicevmc,id=charredir${i},name=usbredir`,
    "-device", opts("usb-redir", { chardev: `charredir${i}`, id: `redir${i}`, bus: "usb.0", port: ports[i] }),
  ]);
}

/** virtio-rng fed by rng-random from the host device (opened by QEMU at start, before the sandbox bites). */
export function rngArgs(def: DomainDef, st: BuildState): string[] {
  return (def.devices.rngs ?? []).flatMap((r, i) => {
    if (!["/dev/urandom", "/dev/random", "/dev/hwrng"].includes(r.backend)) unsupported(`rng ${i}: source '${r.backend}' is not supported`);
    const obj = opts("rng-random", { id: `objrng${i}`, filename: r.backend });
    const dev = opts("virtio-rng-pci", { rng: `objrng${i}`, id: `rng${i}`, "max-bytes": r.rate?.bytes, period: r.rate?.period, ...pciPlacement(st, r.address, `rng ${i}`) });
    return ["-object", obj, "-device", dev];
  });
}

/**
 * The watchdog device and QEMU's global `-watchdog-action`. The runtime sees the action's
 * effect as an ordinary lifecycle change (reset, shutdown, stop) plus a WATCHDOG QMP event.
 */
export function watchdogArgs(def: DomainDef, st: BuildState): string[] {
  const list = def.devices.watchdogs ?? [];
  if (list.length > 1) unsupported("at most one watchdog is supported");
  const w = list[0];
  if (w === undefined) return [];
  const where = w.model === "i6300esb" ? pciPlacement(st, w.address, "watchdog 0") : {};
  return ["-device", opts(w.model, { id: "watchdog0", ...where }), "-watchdog-action", w.action];
}
