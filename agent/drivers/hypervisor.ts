/**
 * The hypervisor driver interface (virHypervisorDriver's analogue). Implementations:
 * `qemu/` (real QEMU processes) and `fake/` (in memory). Drivers keep the state store
 * up to date and publish `domain.lifecycle` on the bus; they never call exporters.
 *
 * Every method throws only AgentError. Methods take a domain UUID: name lookup happens
 * once, in control/dispatch.
 */
import type { DomainDef } from "../model/domain-def.js";
import type { DomainStats, DomainView } from "../core/state-store.js";

/** A key as QMP's KeyValue: a QKeyCode name, or a qnum number where no qcode exists. */
export type QKey = { type: "qcode"; data: string } | { type: "number"; data: number };

export interface DefineResult {
  view: DomainView;
  /** True when an existing definition of the same uuid was replaced. */
  updated: boolean;
}

export interface ShutdownOptions {
  /** After this many ms without the guest powering off, destroy it. Absent: just ask. */
  timeoutMs?: number;
}

export interface DriverInfo {
  name: "qemu" | "fake";
  /** e.g. "QEMU emulator version 7.2.19" */
  hypervisorVersion: string;
  /** Domain types this host can run (qemu always, kvm when /dev/kvm works). */
  domainTypes: string[];
}

/** What undefine does with a UEFI guest's variable store (virsh undefine --nvram / --keep-nvram). */
export interface UndefineOptions {
  nvram?: "remove" | "keep";
}

export interface HypervisorDriver {
  readonly info: DriverInfo;
  /** Loads persisted definitions, re-adopts running guests, starts autostart guests. */
  open(): Promise<void>;
  /** Detaches from guests without stopping them (they keep running across agent restarts). */
  close(): Promise<void>;

  defineDomain(xml: string): Promise<DefineResult>;
  /**
   * Removes the persistent definition. A guest with a UEFI variable store on disk needs
   * `nvram` (libvirt's VIR_DOMAIN_UNDEFINE_NVRAM / KEEP_NVRAM): "remove" deletes the store,
   * "keep" leaves it; without it the call fails with operation_invalid, as libvirt's does.
   */
  undefineDomain(uuid: string, opts?: UndefineOptions): Promise<void>;
  startDomain(uuid: string, opts?: { paused?: boolean }): Promise<DomainView>;
  shutdownDomain(uuid: string, opts?: ShutdownOptions): Promise<DomainView>;
  destroyDomain(uuid: string): Promise<DomainView>;
  suspendDomain(uuid: string): Promise<DomainView>;
  resumeDomain(uuid: string): Promise<DomainView>;
  rebootDomain(uuid: string): Promise<DomainView>;
  resetDomain(uuid: string): Promise<DomainView>;
  setAutostart(uuid: string, on: boolean): Promise<DomainView>;
  /** Live XML when active (unless `inactive`), else the persistent definition. */
  getDomainXml(uuid: string, opts?: { inactive?: boolean }): Promise<string>;
  getDomainDef(uuid: string, opts?: { inactive?: boolean }): DomainDef;
  /** Presses `keys` in order and releases them in reverse; `holdTimeMs` as QMP's hold-time. */
  sendKey(uuid: string, keys: QKey[], holdTimeMs: number): Promise<void>;
  /** QKeyCode names the guest's QEMU accepts (from query-qmp-schema), cached per binary. */
  supportedQcodes(uuid: string): Promise<ReadonlySet<string>>;
  /** Collects fresh stats; must settle by `deadlineMs` (absolute wall-clock ms) or throw operation_timeout. */
  getDomainStats(uuid: string, deadlineMs: number): Promise<DomainStats>;
  /**
   * Optional (qemu only): takes over a running QEMU the agent did not start, as a transient,
   * tainted guest. Absent: domain.attach answers no_support.
   */
  attachDomain?(pid: number, opts?: AttachOptions): Promise<AttachResult>;
}

export interface AttachOptions {
  /** Domain name to use instead of -name / pid-<PID>. */
  name?: string;
  /** How long to wait for the QMP greeting (the socket may be held by another client). */
  timeoutMs?: number;
}

export interface AttachResult {
  view: DomainView;
  /** What the command line and QMP check could not express or disagreed on. */
  notes: string[];
}
