/**
 * Pure mapping of QEMU's run states and QMP events to libvirt states, reasons and
 * lifecycle events (virDomainState / VIR_DOMAIN_EVENT_*), as libvirt's qemu_process.c does.
 * Mappings are idempotent against the current state so that the reply of our own command
 * and the event QEMU sends for it never produce two lifecycle events.
 */
import type { DomainView } from "../../core/state-store.js";
import type { DomainState, LifecycleEventType } from "../../model/state.js";
import type { QemuProcess } from "./process.js";
import type { GuestStatus } from "./status.js";

export interface Transition {
  state: DomainState;
  reason: string;
  event: LifecycleEventType;
  detail: string;
}

export type EventAction =
  | { kind: "transition"; to: Transition }
  /** SHUTDOWN: the guest powered off (or asked to reset with -no-reboot): apply on_poweroff/on_reboot. */
  | { kind: "shutdown"; guest: boolean; reset: boolean }
  /** GUEST_PANICKED: crashed/panicked, then apply on_crash. */
  | { kind: "panic"; to: Transition }
  | { kind: "ignore" };

/** The live bookkeeping of one running QEMU. */
export interface Runtime {
  uuid: string;
  proc: QemuProcess;
  status: GuestStatus;
  /** Set by destroy/shutdown/on_* handling: the reason recorded when the process exits. */
  stopping?: { reason: string; detail: string };
  /** rebootDomain asked for ACPI powerdown: the SHUTDOWN that follows becomes a reset. */
  fakeReboot: boolean;
  /** A reset + cont of ours is under way: its STOP/RESUME are not user pauses. */
  resetting: boolean;
  /** Status file writes, chained so they land in order and before the final removal. */
  writes: Promise<void>;
  /** QOM path of the virtio-balloon, once looked up. */
  balloonPath?: string;
  /** The view after the stop, for the caller that waited on `done`. */
  finalView?: DomainView;
  /** Settles after the exit has been fully processed (files removed, events sent). */
  done: Promise<void>;
  markDone: () => void;
}

/** QMP query-status `status` → libvirt state and reason (for re-adoption). */
export function mapRunStatus(status: string, previous?: { state: DomainState; reason: string }): { state: DomainState; reason: string } {
  const keep = (s: DomainState, fallback: string) => ({ state: s, reason: previous?.state === s ? previous.reason : fallback });
  switch (status) {
    case "running":
      return keep("running", "unknown");
    case "paused":
    case "prelaunch":
    case "debug":
    case "restore-vm":
    case "save-vm":
    case "finish-migrate":
    case "inmigrate":
    case "postmigrate":
      return keep("paused", "unknown");
    case "io-error":
      return { state: "paused", reason: "ioerror" };
    case "watchdog":
      return { state: "paused", reason: "watchdog" };
    case "shutdown":
      return { state: "shutdown", reason: "user" };
    case "guest-panicked":
      return { state: "crashed", reason: "panicked" };
    case "suspended":
      return { state: "pmsuspended", reason: "unknown" };
    default:
      return { state: "nostate", reason: "unknown" };
  }
}

/** One QMP event, given the current state → what the driver must do. */
export function mapQmpEvent(event: string, data: Record<string, unknown>, current: DomainState): EventAction {
  switch (event) {
    case "STOP":
      return current === "running" ? { kind: "transition", to: { state: "paused", reason: "user", event: "suspended", detail: "paused" } } : { kind: "ignore" };
    case "RESUME":
      return current === "paused" ? { kind: "transition", to: { state: "running", reason: "unpaused", event: "resumed", detail: "unpaused" } } : { kind: "ignore" };
    case "SHUTDOWN":
      return current === "shutdown" ? { kind: "ignore" } : { kind: "shutdown", guest: data.guest === true, reset: data.reason === "guest-reset" };
    case "SUSPEND":
      return { kind: "transition", to: { state: "pmsuspended", reason: "unknown", event: "pmsuspended", detail: "memory" } };
    case "SUSPEND_DISK":
      return { kind: "transition", to: { state: "pmsuspended", reason: "unknown", event: "pmsuspended", detail: "disk" } };
    case "WAKEUP":
      return current === "pmsuspended" ? { kind: "transition", to: { state: "running", reason: "wakeup", event: "started", detail: "wakeup" } } : { kind: "ignore" };
    case "GUEST_PANICKED":
      return current === "crashed" ? { kind: "ignore" } : { kind: "panic", to: { state: "crashed", reason: "panicked", event: "crashed", detail: "panicked" } };
    default:
      // POWERDOWN (ACPI request delivered), RESET, BLOCK_*, NIC_RX_FILTER_CHANGED …: no state change.
      return { kind: "ignore" };
  }
}

export function newRuntime(uuid: string, proc: QemuProcess, status: GuestStatus): Runtime {
  let markDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (markDone = r));
  return { uuid, proc, status, fakeReboot: false, resetting: false, writes: Promise.resolve(), done, markDone };
}
