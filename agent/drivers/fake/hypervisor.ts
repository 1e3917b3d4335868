/**
 * An in-memory hypervisor (libvirt's test:///default analogue): the embedded default
 * when QEMU is not installed, and the driver control/exporter tests inject. It keeps the
 * same state machine and emits the same lifecycle events as the QEMU driver, and its
 * stats counters grow with wall time so monotonicity can be checked.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { EventBus } from "../../core/bus.js";
import { inactiveView, type DomainStats, type DomainView, type StateStore } from "../../core/state-store.js";
import type { DomainDef } from "../../model/domain-def.js";
import * as domainXml from "../../model/domain-xml.js";
import { validateDomainDef } from "../../model/domain-validate.js";
import { AgentError } from "../../model/errors.js";
import { isActive, type DomainState, type LifecycleEventType } from "../../model/state.js";
import type { DefineResult, DriverInfo, HypervisorDriver, QKey, ShutdownOptions, UndefineOptions } from "../hypervisor.js";
import { demoDomainDef } from "./demo.js";

export interface FakeHypervisorOptions {
  store: StateStore;
  bus: EventBus;
  log: Logger;
  /** Demo guests created by open(), named demo-1 … demo-N; the first one runs. */
  demoDomains?: number;
}

/** QKeyCode names the fake keyboard knows; enough for every mapped key of keymaps.csv. */
export type KeyPress = { keys: QKey[]; holdTimeMs: number; at: number };

export class FakeHypervisor implements HypervisorDriver {
  readonly info: DriverInfo = { name: "fake", hypervisorVersion: "fake 1.0", domainTypes: ["qemu", "kvm"] };
  /** Every send-key call, for tests. */
  readonly keyLog = new Map<string, KeyPress[]>();
  private nextId = 1;
  private readonly cpuBase = new Map<string, number>();

  constructor(private readonly opts: FakeHypervisorOptions) {}

  private get store(): StateStore {
    return this.opts.store;
  }

  async open(): Promise<void> {
    const n = this.opts.demoDomains ?? 0;
    for (let i = 1; i <= n; i++) {
      const view = inactiveView(demoDomainDef(i), true);
      this.store.setDomain(view);
      if (i === 1) this.markStarted(view);
    }
  }

  async close(): Promise<void> {}

  async defineDomain(xml: string): Promise<DefineResult> {
    const parsed = domainXml.parse(xml);
    const def: DomainDef = parsed.uuid ? parsed : { ...parsed, uuid: randomUUID() };
    validateDomainDef(def);
    const byName = this.store.findDomain(def.name);
    const byUuid = this.store.getDomain(def.uuid);
    if (byName && byName.uuid !== def.uuid) {
      throw new AgentError("domain.exists", `domain "${def.name}" already exists with uuid ${byName.uuid}`, { component: "qemu" });
    }
    if (byUuid && byUuid.name !== def.name) {
      throw new AgentError("domain.exists", `domain with uuid ${def.uuid} already exists as "${byUuid.name}"`, { component: "qemu" });
    }
    const view = byUuid ? { ...byUuid, def, persistent: true } : inactiveView(def, true);
    if (!byUuid || !isActive(byUuid.state)) Object.assign(view, this.sizesOf(def));
    this.store.setDomain(view);
    this.emit(view, "defined", byUuid ? "updated" : "added");
    return { view, updated: byUuid !== undefined };
  }

  /** The fake keeps no variable stores: `opts.nvram` has nothing to act on. */
  async undefineDomain(uuid: string, _opts?: UndefineOptions): Promise<void> {
    const v = this.get(uuid);
    if (isActive(v.state)) {
      this.store.setDomain({ ...v, persistent: false, autostart: false });
    } else {
      this.store.removeDomain(uuid);
    }
    this.emit(v, "undefined", "removed");
  }

  async startDomain(uuid: string, opts: { paused?: boolean } = {}): Promise<DomainView> {
    const v = this.get(uuid);
    if (isActive(v.state)) throw new AgentError("operation_invalid", `domain "${v.name}" is already running`, { component: "qemu" });
    const started = this.markStarted(v);
    return opts.paused ? this.transition(started, "paused", "user", "suspended", "paused") : started;
  }

  async shutdownDomain(uuid: string, _opts: ShutdownOptions = {}): Promise<DomainView> {
    const v = this.requireActive(uuid);
    this.emit(v, "shutdown", "finished");
    return this.markStopped(v, "shutdown", "shutdown");
  }

  async destroyDomain(uuid: string): Promise<DomainView> {
    return this.markStopped(this.requireActive(uuid), "destroyed", "destroyed");
  }

  async suspendDomain(uuid: string): Promise<DomainView> {
    const v = this.requireActive(uuid);
    if (v.state === "paused") throw new AgentError("operation_invalid", `domain "${v.name}" is already paused`, { component: "qemu" });
    return this.transition(v, "paused", "user", "suspended", "paused");
  }

  async resumeDomain(uuid: string): Promise<DomainView> {
    const v = this.requireActive(uuid);
    if (v.state !== "paused") throw new AgentError("operation_invalid", `domain "${v.name}" is not paused`, { component: "qemu" });
    return this.transition(v, "running", "unpaused", "resumed", "unpaused");
  }

  async rebootDomain(uuid: string): Promise<DomainView> {
    return this.requireActive(uuid);
  }

  async resetDomain(uuid: string): Promise<DomainView> {
    return this.requireActive(uuid);
  }

  async setAutostart(uuid: string, on: boolean): Promise<DomainView> {
    const v = this.get(uuid);
    if (!v.persistent) throw new AgentError("operation_invalid", `transient domain "${v.name}" cannot autostart`, { component: "qemu" });
    const next = { ...v, autostart: on };
    this.store.setDomain(next);
    return next;
  }

  async getDomainXml(uuid: string, opts: { inactive?: boolean } = {}): Promise<string> {
    return domainXml.format(this.getDomainDef(uuid, opts));
  }

  getDomainDef(uuid: string, _opts: { inactive?: boolean } = {}): DomainDef {
    return this.get(uuid).def;
  }

  async sendKey(uuid: string, keys: QKey[], holdTimeMs: number): Promise<void> {
    const v = this.requireActive(uuid);
    if (v.state === "paused") {
      throw new AgentError("operation_invalid", `domain "${v.name}" is paused: keys sent now would be lost`, { component: "qemu" });
    }
    const log = this.keyLog.get(uuid) ?? [];
    log.push({ keys, holdTimeMs, at: Date.now() });
    this.keyLog.set(uuid, log);
  }

  async supportedQcodes(_uuid: string): Promise<ReadonlySet<string>> {
    return FAKE_QCODES;
  }

  async getDomainStats(uuid: string, _deadlineMs: number): Promise<DomainStats> {
    const v = this.requireActive(uuid);
    const base = this.cpuBase.get(uuid) ?? Date.now();
    const elapsedNs = (Date.now() - base) * 1e6;
    const cpuTimeNs = Math.round(elapsedNs * 0.05 * v.vcpus);
    return {
      uuid,
      collectedAt: Date.now(),
      cpuTimeNs,
      vcpus: Array.from({ length: v.vcpus }, (_, id) => ({ id, state: 1, timeNs: Math.round(cpuTimeNs / v.vcpus) })),
      memory: { actual_balloon: v.currentMemoryKiB, rss: Math.round(v.currentMemoryKiB / 4) },
      blocks: v.def.devices.disks.map((d) => fakeBlock(d.target.dev, d.source, elapsedNs)),
      interfaces: v.def.devices.interfaces.map((n, i) => fakeNet(`vnet${i}`, n.mac, elapsedNs)),
    };
  }

  private get(uuid: string): DomainView {
    const v = this.store.getDomain(uuid);
    if (!v) throw new AgentError("domain.not_found", `no domain with uuid ${uuid}`, { component: "qemu" });
    return v;
  }

  private requireActive(uuid: string): DomainView {
    const v = this.get(uuid);
    if (!isActive(v.state)) throw new AgentError("operation_invalid", `domain "${v.name}" is not running`, { component: "qemu" });
    return v;
  }

  private sizesOf(def: DomainDef): Pick<DomainView, "vcpus" | "maxMemoryKiB" | "currentMemoryKiB"> {
    return { vcpus: def.vcpus, maxMemoryKiB: def.memoryKiB, currentMemoryKiB: def.currentMemoryKiB };
  }

  private markStarted(v: DomainView): DomainView {
    this.cpuBase.set(v.uuid, Date.now());
    const next: DomainView = { ...v, id: this.nextId++, startedAt: Date.now(), pid: 100_000 + this.nextId };
    return this.transition(next, "running", "booted", "started", "booted");
  }

  private markStopped(v: DomainView, reason: string, detail: string): DomainView {
    this.cpuBase.delete(v.uuid);
    const { id: _id, pid: _pid, startedAt: _s, ...rest } = v;
    if (!v.persistent) {
      this.store.removeDomain(v.uuid);
      this.emit({ ...rest, state: "shutoff", reason, stateChangedAt: Date.now() }, "stopped", detail);
      return { ...rest, state: "shutoff", reason, stateChangedAt: Date.now() };
    }
    return this.transition({ ...rest, state: v.state }, "shutoff", reason, "stopped", detail);
  }

  private transition(v: DomainView, state: DomainState, reason: string, event: LifecycleEventType, detail: string): DomainView {
    const next: DomainView = { ...v, state, reason, stateChangedAt: Date.now() };
    this.store.setDomain(next);
    this.emit(next, event, detail);
    return next;
  }

  private emit(v: DomainView, event: LifecycleEventType, detail: string): void {
    const cur = this.store.getDomain(v.uuid) ?? v;
    this.opts.bus.emit("domain.lifecycle", { uuid: v.uuid, name: v.name, event, detail, state: cur.state, reason: cur.reason });
  }
}

function fakeBlock(device: string, path: string | undefined, elapsedNs: number) {
  const t = Math.floor(elapsedNs / 1e6);
  const b = { device, rdReqs: t, rdBytes: t * 4096, wrReqs: t >> 1, wrBytes: (t >> 1) * 4096, flushReqs: t >> 4, rdTotalTimeNs: t * 1000, wrTotalTimeNs: t * 2000, errors: 0 };
  return path === undefined ? b : { ...b, path };
}

function fakeNet(device: string, mac: string | undefined, elapsedNs: number) {
  const t = Math.floor(elapsedNs / 1e6);
  const n = { device, rxBytes: t * 100, rxPackets: t, rxErrs: 0, rxDrop: 0, txBytes: t * 60, txPackets: t, txErrs: 0, txDrop: 0 };
  return mac === undefined ? n : { ...n, mac };
}

const FAKE_QCODES: ReadonlySet<string> = new Set(
  ("shift shift_r alt alt_r ctrl ctrl_r menu esc 1 2 3 4 5 6 7 8 9 0 minus equal backspace tab q w e r t y u i o p " +
    "bracket_left bracket_right ret a s d f g h j k l semicolon apostrophe grave_accent backslash z x c v b n m comma " +
    "dot slash asterisk spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 num_lock scroll_lock kp_divide kp_multiply " +
    "kp_subtract kp_add kp_enter kp_decimal sysrq kp_0 kp_1 kp_2 kp_3 kp_4 kp_5 kp_6 kp_7 kp_8 kp_9 less home pgup " +
    "pgdn end left up down right insert delete pause meta_l meta_r power ro yen").split(" "),
);
