/**
 * The running side of the QEMU driver: one Runtime per live QEMU, state transitions from
 * our own commands, QMP events and process exit, all funnelled through `apply()` so the
 * store, the status file and the bus events stay in one order.
 */
import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import type { EventBus } from "../../core/bus.js";
import { inactiveView, type DomainView, type StateStore } from "../../core/state-store.js";
import type { DomainDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { isActive, type LifecycleEventType } from "../../model/state.js";
import { readoptAll } from "./adopt.js";
import { probeQemu } from "./caps.js";
import { mapQmpEvent, newRuntime, type Runtime, type Transition } from "./lifecycle.js";
import type { DefinitionStore } from "./persist.js";
import { terminateQemu, type QemuProcess } from "./process.js";
import type { QmpEvent } from "./qmp.js";
import type { QemuCredentials } from "./credentials.js";
import { findBalloonPath, privateDir, spawnGuest, type TapOpener } from "./start.js";
import { monitorPath, removeStatus, writeStatus, type GuestStatus } from "./status.js";

export interface SupervisorOptions {
  store: StateStore;
  bus: EventBus;
  log: Logger;
  runDir: string;
  qemuBinary: string;
  qmpTimeoutMs: number;
  defs: DefinitionStore;
  /** The agent's directory of UEFI variable stores (handed to QEMU as fds). */
  nvramDir: string;
}

export class GuestSupervisor {
  private readonly runtimes = new Map<string, Runtime>();
  private readonly starting = new Set<string>();
  private nextId = 1;
  /** The unprivileged user new guests' QEMU runs as (hypervisor.qemu_user), set at driver open. */
  credentials: QemuCredentials | undefined;

  constructor(readonly o: SupervisorOptions) {}

  get(uuid: string): DomainView {
    const v = this.o.store.getDomain(uuid);
    if (!v) throw new AgentError("domain.not_found", `no domain with uuid ${uuid}`, { component: "qemu" });
    return v;
  }

  runtime(uuid: string): Runtime | undefined {
    return this.runtimes.get(uuid);
  }

  /** @throws AgentError domain.not_found, operation_invalid "domain is not running". */
  requireRuntime(uuid: string): Runtime {
    const v = this.get(uuid);
    const rt = this.runtimes.get(uuid);
    if (!rt || !isActive(v.state)) throw new AgentError("operation_invalid", `domain "${v.name}" is not running`, { component: "qemu" });
    return rt;
  }

  addInactive(def: DomainDef, autostart: boolean): void {
    this.o.store.setDomain({ ...inactiveView(def, true), autostart });
  }

  /** Stores a (re)definition; a running guest keeps its live state and becomes persistent. */
  setDefinition(def: DomainDef): DomainView {
    const prev = this.o.store.getDomain(def.uuid);
    const view: DomainView = prev && isActive(prev.state) ? { ...prev, def, persistent: true } : { ...inactiveView(def, true), autostart: prev?.autostart ?? false };
    this.o.store.setDomain(view);
    return view;
  }

  removeDefinition(uuid: string): void {
    const v = this.get(uuid);
    const rt = this.runtimes.get(uuid);
    if (!rt) return this.o.store.removeDomain(uuid);
    // libvirt: undefining a running guest leaves it running as a transient one.
    this.o.store.setDomain({ ...v, def: rt.status.def, persistent: false, autostart: false });
    this.persist(rt, { persistent: false });
  }

  emit(v: DomainView, event: LifecycleEventType, detail: string): void {
    this.o.bus.emit("domain.lifecycle", { uuid: v.uuid, name: v.name, event, detail, state: v.state, reason: v.reason });
  }

  async start(uuid: string, paused: boolean, openTaps?: TapOpener): Promise<DomainView> {
    const v = this.get(uuid);
    if (isActive(v.state) || this.starting.has(uuid)) throw new AgentError("operation_invalid", `domain "${v.name}" is already running`, { component: "qemu" });
    this.starting.add(uuid);
    try {
      const caps = await probeQemu(v.def.devices.emulator ?? this.o.qemuBinary);
      const id = this.nextId++;
      // Events that arrive before the runtime exists (e.g. a guest powering off right after
      // `cont`) are kept and replayed; the idempotent mapping drops the RESUME of our cont.
      const early = { rt: undefined as Runtime | undefined, events: [] as QmpEvent[] };
      const onLaunched = (p: QemuProcess) => p.qmp.onEvent((e) => (early.rt ? this.onQmpEvent(early.rt, e) : early.events.push(e)));
      const params = { def: v.def, caps, runDir: this.o.runDir, logPath: this.o.defs.logPath(v.name), qmpTimeoutMs: this.o.qmpTimeoutMs, credentials: this.credentials, nvramDir: this.o.nvramDir, log: this.o.log.child({ domain: uuid }) };
      const { proc, status } = await spawnGuest({ ...params, paused, id, persistent: v.persistent, openTaps, onLaunched });
      const rt = (early.rt = newRuntime(uuid, proc, status));
      this.runtimes.set(uuid, rt);
      this.o.store.setDomain({ ...this.get(uuid), id, pid: proc.pid, startedAt: status.startedAt });
      // spawnGuest wrote the status file with the final state already (before `cont`): no
      // second crash-safe write, and none still in flight after start() returns.
      this.apply(rt, { state: "running", reason: "booted", event: "started", detail: "booted" }, false);
      if (paused) this.apply(rt, { state: "paused", reason: "user", event: "suspended", detail: "paused" }, false);
      for (const e of early.events.splice(0)) this.onQmpEvent(rt, e);
      this.watchExit(rt);
      return this.get(uuid);
    } catch (err) {
      this.markFailed(uuid);
      throw err;
    } finally {
      this.starting.delete(uuid);
    }
  }

  private markFailed(uuid: string): void {
    const cur = this.o.store.getDomain(uuid);
    if (cur && !isActive(cur.state)) this.o.store.setDomain({ ...cur, state: "shutoff", reason: "failed", stateChangedAt: Date.now() });
  }

  async suspend(uuid: string): Promise<DomainView> {
    const rt = this.requireRuntime(uuid);
    const v = this.get(uuid);
    if (v.state !== "running") throw new AgentError("operation_invalid", `domain "${v.name}" is ${v.state}, not running`, { component: "qemu" });
    await rt.proc.qmp.execute("stop");
    this.onQmpEvent(rt, { event: "STOP", data: {}, timeMs: Date.now() });
    return this.get(uuid);
  }

  async resume(uuid: string): Promise<DomainView> {
    const rt = this.requireRuntime(uuid);
    const v = this.get(uuid);
    if (v.state !== "paused") throw new AgentError("operation_invalid", `domain "${v.name}" is not paused`, { component: "qemu" });
    await rt.proc.qmp.execute("cont");
    this.onQmpEvent(rt, { event: "RESUME", data: {}, timeMs: Date.now() });
    return this.get(uuid);
  }

  /** ACPI reboot: powerdown request whose SHUTDOWN becomes system_reset + cont. */
  async reboot(uuid: string): Promise<DomainView> {
    const rt = this.requireRuntime(uuid);
    rt.fakeReboot = true;
    await rt.proc.qmp.execute("system_powerdown");
    return this.get(uuid);
  }

  /** ACPI powerdown; with `timeoutMs`, destroys the guest if it is still up by then. */
  async shutdown(uuid: string, timeoutMs?: number): Promise<DomainView> {
    const rt = this.requireRuntime(uuid);
    rt.fakeReboot = false;
    await rt.proc.qmp.execute("system_powerdown");
    if (timeoutMs === undefined) return this.get(uuid);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const finished = await Promise.race([rt.done.then(() => true), expired]);
    clearTimeout(timer);
    if (finished) return rt.finalView ?? this.get(uuid);
    return this.runtimes.get(uuid) === rt ? this.destroy(uuid, "destroyed") : (rt.finalView ?? this.get(uuid));
  }

  /** SIGTERM, SIGKILL after 3 s; resolves with the shut-off view once everything is cleaned up. */
  async destroy(uuid: string, reason: "destroyed" | "shutdown" | "crashed"): Promise<DomainView> {
    const rt = this.requireRuntime(uuid);
    rt.stopping ??= { reason, detail: reason };
    await terminateQemu(rt.proc, 3000);
    await rt.done;
    return rt.finalView ?? this.get(uuid);
  }

  /** The balloon's QOM path, looked up once per process. */
  async balloonPath(rt: Runtime): Promise<string | undefined> {
    rt.balloonPath ??= await findBalloonPath(rt.proc.qmp);
    return rt.balloonPath;
  }

  /** Forgets every runtime and closes QMP; the QEMU processes keep running. */
  detachAll(): void {
    for (const rt of this.runtimes.values()) rt.proc.qmp.close();
    this.runtimes.clear();
  }

  readoptAll(): Promise<void> {
    return readoptAll(this);
  }

  /** A live QEMU found by re-adoption: store it, keep its id, supervise it. */
  adopted(proc: QemuProcess, st: GuestStatus): void {
    const prev = this.o.store.getDomain(st.uuid);
    const persistent = st.persistent && prev !== undefined;
    const base = persistent ? prev : inactiveView(st.def, false);
    const rt = newRuntime(st.uuid, proc, st);
    this.runtimes.set(st.uuid, rt);
    this.nextId = Math.max(this.nextId, st.id + 1);
    const tainted = base.tainted || st.tainted === true;
    this.o.store.setDomain({ ...base, persistent, tainted, state: st.state, reason: st.reason, id: st.id, pid: st.pid, startedAt: st.startedAt, stateChangedAt: Date.now() });
    this.persist(rt, { persistent });
    this.attach(rt);
  }

  /**
   * A QEMU the agent did not start (domain.attach): a transient, tainted guest taken over
   * through the re-adoption path, so its status file makes a restarted agent adopt it again.
   */
  async adoptForeign(proc: QemuProcess, st: Omit<GuestStatus, "id">): Promise<DomainView> {
    this.adopted(proc, { ...st, id: this.nextId++, persistent: false, tainted: true });
    await this.runtimes.get(st.uuid)?.writes; // the status file exists before attach answers
    const v = this.get(st.uuid);
    this.emit(v, "started", "booted");
    return v;
  }

  /** A status file whose QEMU died while no agent watched: shutoff, crashed unless it was shutting down. */
  async foundDead(st: GuestStatus): Promise<void> {
    await this.removeRuntimeFiles(st.uuid);
    this.nextId = Math.max(this.nextId, st.id + 1);
    const stop = st.state === "shutdown" ? "shutdown" : "crashed";
    const prev = this.o.store.getDomain(st.uuid);
    const last: DomainView = { ...(prev ?? inactiveView(st.def, false)), state: "shutoff", reason: stop, stateChangedAt: Date.now() };
    if (prev) this.o.store.setDomain(last);
    this.emit(last, "stopped", stop);
  }

  private attach(rt: Runtime): void {
    rt.proc.qmp.onEvent((ev) => this.onQmpEvent(rt, ev));
    this.watchExit(rt);
  }

  private watchExit(rt: Runtime): void {
    void rt.proc.exited.then(() => this.onExit(rt));
  }

  private onQmpEvent(rt: Runtime, ev: QmpEvent): void {
    if (this.runtimes.get(rt.uuid) !== rt) return;
    const action = mapQmpEvent(ev.event, ev.data, this.get(rt.uuid).state);
    if (action.kind === "transition") {
      if (rt.stopping || (rt.resetting && (ev.event === "STOP" || ev.event === "RESUME"))) return;
      this.apply(rt, action.to);
    } else if (action.kind === "shutdown") {
      // Our own SIGTERM makes QEMU report SHUTDOWN (reason host-signal): not a guest power-off.
      if (rt.stopping) return;
      void this.onGuestShutdown(rt, action.reset).catch((err: unknown) => this.o.log.error({ err, domain: rt.uuid }, "on_poweroff handling failed"));
    } else if (action.kind === "panic") {
      this.apply(rt, action.to);
      void this.applyAction(rt, rt.status.def.onCrash, "crashed").catch((err: unknown) => this.o.log.error({ err, domain: rt.uuid }, "on_crash handling failed"));
    }
  }

  private async onGuestShutdown(rt: Runtime, reset: boolean): Promise<void> {
    if (rt.fakeReboot && !reset) {
      rt.fakeReboot = false;
      return this.resetAndContinue(rt);
    }
    this.apply(rt, { state: "shutdown", reason: "user", event: "shutdown", detail: "finished" });
    const def = rt.status.def;
    await this.applyAction(rt, reset ? def.onReboot : def.onPoweroff, "shutdown");
  }

  /** on_poweroff / on_reboot / on_crash. */
  private async applyAction(rt: Runtime, action: string, reason: "shutdown" | "crashed"): Promise<void> {
    if (action === "destroy" || action === "coredump-destroy") {
      rt.stopping ??= { reason, detail: reason };
      await terminateQemu(rt.proc, 3000);
    } else if (action === "restart" || action === "rename-restart" || action === "coredump-restart") {
      await this.resetAndContinue(rt);
      this.apply(rt, { state: "running", reason: reason === "crashed" ? "crashed" : "booted", event: "started", detail: "booted" });
    }
    // preserve: leave the guest as it is for inspection.
  }

  private async resetAndContinue(rt: Runtime): Promise<void> {
    rt.resetting = true;
    try {
      await rt.proc.qmp.execute("system_reset");
      await rt.proc.qmp.execute("cont");
    } finally {
      rt.resetting = false;
    }
  }

  /** One state change: store, status file (chained, unless `persist` is false), bus event, in that order. */
  private apply(rt: Runtime, t: Transition, persist = true): void {
    const next: DomainView = { ...this.get(rt.uuid), state: t.state, reason: t.reason, stateChangedAt: Date.now() };
    this.o.store.setDomain(next);
    if (persist) this.persist(rt, { state: t.state, reason: t.reason });
    this.emit(next, t.event, t.detail);
  }

  private persist(rt: Runtime, change: Partial<GuestStatus>): void {
    rt.status = { ...rt.status, ...change };
    const snapshot = rt.status;
    rt.writes = rt.writes
      .then(() => (this.runtimes.get(rt.uuid) === rt ? writeStatus(this.o.runDir, snapshot) : undefined))
      .catch((err: unknown) => this.o.log.error({ err, domain: rt.uuid }, "status file write failed"));
  }

  private async onExit(rt: Runtime): Promise<void> {
    if (this.runtimes.get(rt.uuid) !== rt) return rt.markDone();
    const stop = rt.stopping ?? { reason: "crashed", detail: "crashed" };
    rt.proc.qmp.close();
    this.runtimes.delete(rt.uuid);
    await rt.writes;
    await this.removeRuntimeFiles(rt.uuid).catch((err: unknown) => this.o.log.error({ err, domain: rt.uuid }, "cleanup after exit failed"));
    rt.finalView = this.markStopped(rt.uuid, stop.reason, stop.detail);
    rt.markDone();
  }

  private markStopped(uuid: string, reason: string, detail: string): DomainView {
    const { id: _id, pid: _pid, startedAt: _s, ...rest } = this.get(uuid);
    const last: DomainView = { ...rest, state: "shutoff", reason, stateChangedAt: Date.now() };
    if (last.persistent) this.o.store.setDomain(last);
    else this.o.store.removeDomain(uuid);
    this.emit(last, "stopped", detail);
    return last;
  }

  private async removeRuntimeFiles(uuid: string): Promise<void> {
    await removeStatus(this.o.runDir, uuid);
    await rm(monitorPath(this.o.runDir, uuid), { force: true });
    await rm(privateDir(this.o.runDir, uuid), { recursive: true, force: true });
  }
}
