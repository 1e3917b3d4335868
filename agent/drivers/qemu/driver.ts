/**
 * The QEMU hypervisor driver: runs guests as detached QEMU processes it supervises over
 * QMP, persists definitions under <stateDir>/qemu and re-adopts running guests from their
 * status files after an agent restart.
 *
 * Decisions (libvirt compatible where libvirt decides):
 * - A guest found dead at open() without a clean stop recorded (its status file is still
 *   there) becomes shutoff/crashed and `stopped/crashed` is emitted.
 * - undefine of a running guest makes it transient; it disappears when it stops.
 * - reboot = ACPI powerdown whose SHUTDOWN is turned into system_reset + cont (libvirt's
 *   "fake reboot"); reset = system_reset.
 */
import { randomUUID } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Logger } from "pino";
import type { EventBus } from "../../core/bus.js";
import type { DomainStats, DomainView, StateStore } from "../../core/state-store.js";
import type { DomainDef } from "../../model/domain-def.js";
import * as domainXml from "../../model/domain-xml.js";
import { AgentError } from "../../model/errors.js";
import { isActive } from "../../model/state.js";
import type { AttachOptions, AttachResult, DefineResult, DriverInfo, HypervisorDriver, QKey, ShutdownOptions, UndefineOptions } from "../hypervisor.js";
import { probeForeignQemu } from "./attach.js";
import { probeQemu } from "./caps.js";
import { resolveQemuUser } from "./credentials.js";
import { prepareDefinition } from "./define.js";
import { isAgentStore } from "./firmware.js";
import { GuestSupervisor } from "./supervisor.js";
import { DefinitionStore } from "./persist.js";
import { collectStats } from "./stats.js";
import type { TapOpener } from "./start.js";
import { STATUS_VERSION, statusDir, type GuestStatus } from "./status.js";

export interface QemuDriverOptions {
  store: StateStore;
  bus: EventBus;
  log: Logger;
  stateDir: string;
  runDir: string;
  qemuBinary: string;
  qmpTimeoutMs: number;
  /** Opens the taps of a guest's interfaces (the network driver); absent: interfaces are refused at start. */
  openTaps?: TapOpener;
  /** Where QEMU firmware descriptors are read for `<os firmware='efi'>` (default FIRMWARE_DIRS). */
  firmwareDirs?: readonly string[];
  /** Unprivileged user every QEMU started from now on runs as (config hypervisor.qemu_user); absent: the agent's own. */
  qemuUser?: string;
}

export class QemuDriver implements HypervisorDriver {
  readonly info: DriverInfo = { name: "qemu", hypervisorVersion: "unknown", domainTypes: ["qemu"] };
  private readonly defs: DefinitionStore;
  private readonly sup: GuestSupervisor;
  private readonly qcodes = new Map<string, Promise<ReadonlySet<string>>>();
  /** Where the agent keeps the UEFI variable stores it creates (firmware.ts isAgentStore()). */
  private readonly nvramDir: string;

  constructor(private readonly opts: QemuDriverOptions) {
    this.defs = new DefinitionStore(opts.stateDir, opts.log);
    this.nvramDir = resolve(opts.stateDir, "nvram");
    this.sup = new GuestSupervisor({ ...opts, defs: this.defs, nvramDir: this.nvramDir });
  }

  async open(): Promise<void> {
    await this.defs.ensureDirs();
    await mkdir(statusDir(this.opts.runDir), { recursive: true, mode: 0o700 });
    const caps = await probeQemu(this.opts.qemuBinary);
    await this.setQemuUser();
    const v = caps.version;
    this.info.hypervisorVersion = `QEMU emulator version ${v.major}.${v.minor}.${v.micro}`;
    this.info.domainTypes = caps.kvm ? ["qemu", "kvm"] : ["qemu"];
    for (const p of await this.defs.loadAll()) this.sup.addInactive(p.def, p.autostart);
    await this.sup.readoptAll();
    for (const view of this.opts.store.listDomains()) {
      if (!view.autostart || isActive(view.state)) continue;
      await this.startDomain(view.uuid).catch((err: unknown) => this.opts.log.error({ err, domain: view.uuid }, "autostart failed"));
    }
  }

  /** Resolves hypervisor.qemu_user; says so when there is none (QEMU then runs as the agent's user). */
  private async setQemuUser(): Promise<void> {
    const user = this.opts.qemuUser;
    if (user === undefined) {
      if (process.getuid?.() === 0) this.opts.log.warn("QEMU runs as root: set hypervisor.qemu_user to an unprivileged user (a guest that takes over its QEMU then gets only that user's rights)");
      return;
    }
    const cred = await resolveQemuUser(user);
    this.sup.credentials = cred;
    this.opts.log.info({ user, uid: cred.uid, gid: cred.gid }, "QEMU runs as an unprivileged user");
  }

  async close(): Promise<void> {
    this.sup.detachAll();
  }

  async defineDomain(xml: string): Promise<DefineResult> {
    const parsed = domainXml.parse(xml);
    const candidate: DomainDef = parsed.uuid ? parsed : { ...parsed, uuid: randomUUID() };
    this.checkDuplicates(candidate);
    const def = await prepareDefinition(candidate, this.opts.qemuBinary, { nvramDir: this.nvramDir, ...(this.opts.firmwareDirs ? { dirs: this.opts.firmwareDirs } : {}) });
    const prev = this.opts.store.getDomain(def.uuid);
    await this.defs.save(def);
    const view = this.sup.setDefinition(def);
    this.sup.emit(view, "defined", prev ? "updated" : "added");
    return { view, updated: prev !== undefined };
  }

  async undefineDomain(uuid: string, opts: UndefineOptions = {}): Promise<void> {
    const v = this.sup.get(uuid);
    if (!v.persistent) throw new AgentError("operation_invalid", `domain "${v.name}" is transient: it has no definition to remove`, { component: "qemu" });
    const store = await this.nvramToRemove(v, opts.nvram);
    await this.defs.remove(uuid);
    // After the definition: a failure here leaves a stray file, never a guest without its store.
    if (store) await rm(store, { force: true });
    this.sup.removeDefinition(uuid);
    this.sup.emit(v, "undefined", "removed");
  }

  /**
   * The variable store undefine must delete, as libvirt decides: only a store that exists
   * needs a choice. The agent deletes only stores in its own nvram directory: a definition
   * may name any path, and removing one elsewhere is the operator's call, not a command's.
   * @throws AgentError operation_invalid (a store exists and no choice was given, or it is
   *   outside the agent's directory and "remove" was asked).
   */
  private async nvramToRemove(v: DomainView, choice: UndefineOptions["nvram"]): Promise<string | undefined> {
    const path = v.def.os.nvram?.path;
    if (path === undefined || choice === "keep" || !(await stat(path).then(() => true, () => false))) return undefined;
    if (choice === undefined) {
      throw new AgentError("operation_invalid", `domain "${v.name}" has a UEFI variable store (${path}): undefine it with nvram "remove" to delete the store too, or "keep" to leave it (virsh undefine --nvram / --keep-nvram)`, { component: "qemu" });
    }
    if (!isAgentStore(this.nvramDir, path)) {
      throw new AgentError("operation_invalid", `domain "${v.name}": its variable store ${path} is not in ${this.nvramDir}, where the agent keeps the stores it creates; undefine with nvram "keep" and remove the file yourself`, { component: "qemu" });
    }
    return path;
  }

  async startDomain(uuid: string, opts: { paused?: boolean } = {}): Promise<DomainView> {
    return this.sup.start(uuid, opts.paused === true, this.opts.openTaps);
  }

  async shutdownDomain(uuid: string, opts: ShutdownOptions = {}): Promise<DomainView> {
    return this.sup.shutdown(uuid, opts.timeoutMs);
  }

  async destroyDomain(uuid: string): Promise<DomainView> {
    return this.sup.destroy(uuid, "destroyed");
  }

  async suspendDomain(uuid: string): Promise<DomainView> {
    return this.sup.suspend(uuid);
  }

  async resumeDomain(uuid: string): Promise<DomainView> {
    return this.sup.resume(uuid);
  }

  async rebootDomain(uuid: string): Promise<DomainView> {
    return this.sup.reboot(uuid);
  }

  async resetDomain(uuid: string): Promise<DomainView> {
    const rt = this.sup.requireRuntime(uuid);
    await rt.proc.qmp.execute("system_reset");
    return this.sup.get(uuid);
  }

  async setAutostart(uuid: string, on: boolean): Promise<DomainView> {
    const v = this.sup.get(uuid);
    if (!v.persistent) throw new AgentError("operation_invalid", `transient domain "${v.name}" cannot autostart`, { component: "qemu" });
    await this.defs.setAutostart(uuid, on);
    const next = { ...v, autostart: on };
    this.opts.store.setDomain(next);
    return next;
  }

  /** Never includes secrets; the live XML carries the runtime id like libvirt's `<domain id=…>`. */
  async getDomainXml(uuid: string, opts: { inactive?: boolean } = {}): Promise<string> {
    const xml = domainXml.format(this.getDomainDef(uuid, opts), { secure: false });
    const id = this.sup.get(uuid).id;
    if (opts.inactive === true || id === undefined || !this.sup.runtime(uuid)) return xml;
    return xml.replace(/^<domain type='([a-z]+)'/, `<domain type='$1' id='${id}'`);
  }

  getDomainDef(uuid: string, opts: { inactive?: boolean } = {}): DomainDef {
    const v = this.sup.get(uuid);
    const rt = this.sup.runtime(uuid);
    if (rt && opts.inactive !== true) return rt.status.def;
    return v.def;
  }

  async sendKey(uuid: string, keys: QKey[], holdTimeMs: number): Promise<void> {
    const rt = this.sup.requireRuntime(uuid);
    const v = this.sup.get(uuid);
    if (v.state === "paused") {
      // QEMU accepts send-key while paused and silently drops the keys (DESIGN §3).
      throw new AgentError("operation_invalid", `domain "${v.name}" is paused: keys sent to a paused guest are lost`, { component: "qemu" });
    }
    if (!Number.isInteger(holdTimeMs) || holdTimeMs < 0 || holdTimeMs > 60_000) {
      throw new AgentError("invalid_arg", `hold time ${holdTimeMs} ms is out of range 0..60000`, { component: "qemu" });
    }
    await rt.proc.qmp.execute("send-key", { keys, "hold-time": holdTimeMs });
  }

  async supportedQcodes(uuid: string): Promise<ReadonlySet<string>> {
    const rt = this.sup.requireRuntime(uuid);
    const binary = rt.status.def.devices.emulator ?? this.opts.qemuBinary;
    let hit = this.qcodes.get(binary);
    if (!hit) {
      hit = readQcodes(rt.proc.qmp);
      this.qcodes.set(binary, hit);
      hit.catch(() => this.qcodes.delete(binary));
    }
    return hit;
  }

  async getDomainStats(uuid: string, deadlineMs: number): Promise<DomainStats> {
    const rt = this.sup.requireRuntime(uuid);
    const s = rt.status;
    const balloonPath = s.def.devices.memballoon?.statsPeriod ? await this.sup.balloonPath(rt) : undefined;
    const stats = await collectStats({ uuid, pid: s.pid, vcpuThreads: s.vcpuThreads, taps: s.taps, def: s.def, qmp: rt.proc.qmp, balloonPath }, deadlineMs);
    this.opts.store.setStats(stats);
    return stats;
  }

  /**
   * virsh qemu-monitor-command --hmp: a raw HMP line for diagnosis. Like libvirt, the
   * guest is marked tainted because its state may no longer be what the agent believes.
   * @throws AgentError operation_invalid (not running), operation_failed.
   */
  async monitorCommand(uuid: string, hmp: string): Promise<string> {
    const rt = this.sup.requireRuntime(uuid);
    if (hmp.length === 0 || hmp.length > 4096 || /[\r\n]/.test(hmp)) throw new AgentError("invalid_arg", "HMP command must be one non-empty line", { component: "qemu" });
    this.opts.store.setDomain({ ...this.sup.get(uuid), tainted: true });
    return String(await rt.proc.qmp.execute("human-monitor-command", { "command-line": hmp }));
  }

  /**
   * Takes over a QEMU started by someone else (see docs/attach.md): transient, tainted.
   * @throws AgentError operation_invalid (pid already managed, no monitor socket),
   *   invalid_arg (not a QEMU), no_support (TCP/HMP-only monitor), domain.exists,
   *   operation_timeout (monitor busy), operation_failed, config_unsupported.
   */
  async attachDomain(pid: number, opts: AttachOptions = {}): Promise<AttachResult> {
    const managed = this.opts.store.listDomains().find((v) => v.pid === pid);
    if (managed) throw new AgentError("operation_invalid", `pid ${pid} is already managed as domain "${managed.name}"`, { component: "qemu" });
    const timeoutMs = opts.timeoutMs ?? this.opts.qmpTimeoutMs;
    const g = await probeForeignQemu({ pid, name: opts.name, qmpTimeoutMs: timeoutMs, newUuid: randomUUID, log: this.opts.log.child({ pid }) });
    try {
      if (this.opts.store.getDomain(g.def.uuid) || this.opts.store.findDomain(g.def.name)?.name === g.def.name) {
        this.checkDuplicates(g.def);
        throw new AgentError("domain.exists", `domain "${g.def.name}" (uuid ${g.def.uuid}) already exists; attach with another name, or stop it first`, { component: "qemu" });
      }
      const status: Omit<GuestStatus, "id"> = { v: STATUS_VERSION, uuid: g.def.uuid, name: g.def.name, pid, startTime: g.proc.startTime, monitorPath: g.monitorPath, taps: g.taps, vcpuThreads: g.vcpuThreads, state: g.state, reason: g.reason, startedAt: g.startedAt, persistent: false, def: g.def };
      return { view: await this.sup.adoptForeign(g.proc, status), notes: g.notes };
    } catch (err) {
      g.proc.qmp.close();
      throw err;
    }
  }

  private checkDuplicates(def: DomainDef): void {
    const byName = this.opts.store.findDomain(def.name);
    const byUuid = this.opts.store.getDomain(def.uuid);
    if (byName && byName.name === def.name && byName.uuid !== def.uuid) {
      throw new AgentError("domain.exists", `domain "${def.name}" already exists with uuid ${byName.uuid}`, { component: "qemu" });
    }
    if (byUuid && byUuid.name !== def.name) {
      throw new AgentError("domain.exists", `domain with uuid ${def.uuid} already exists as "${byUuid.name}"`, { component: "qemu" });
    }
  }
}

interface SchemaEntry {
  "meta-type": string;
  name: string;
  values?: string[];
  members?: Array<{ name: string }>;
}

/** The QKeyCode enum of the running QEMU, from its QMP schema (names are masked there). */
async function readQcodes(qmp: { execute<T>(c: string): Promise<T> }): Promise<ReadonlySet<string>> {
  const schema = await qmp.execute<SchemaEntry[]>("query-qmp-schema");
  // The schema hides type names behind numbers: find send-key's arg type → keys' array → KeyValue → qcode's enum.
  const byName = new Map(schema.map((e) => [e.name, e]));
  const cmd = byName.get("send-key") as unknown as { "arg-type": string } | undefined;
  const args = cmd ? (byName.get(cmd["arg-type"]) as unknown as { members: Array<{ name: string; type: string }> } | undefined) : undefined;
  const keysType = args?.members.find((m) => m.name === "keys")?.type;
  const arr = keysType ? (byName.get(keysType) as unknown as { "element-type": string } | undefined) : undefined;
  const keyValue = arr ? (byName.get(arr["element-type"]) as unknown as { variants?: Array<{ case: string; type: string }> } | undefined) : undefined;
  const qcodeWrapper = keyValue?.variants?.find((v) => v.case === "qcode")?.type;
  const wrapper = qcodeWrapper ? (byName.get(qcodeWrapper) as unknown as { members: Array<{ name: string; type: string }> } | undefined) : undefined;
  const enumType = wrapper?.members.find((m) => m.name === "data")?.type;
  const en = enumType ? byName.get(enumType) : undefined;
  const names = en?.members?.map((m) => m.name) ?? en?.values;
  if (!names || names.length === 0) throw new AgentError("operation_failed", "QKeyCode enum not found in query-qmp-schema", { component: "qemu" });
  return new Set(names);
}
