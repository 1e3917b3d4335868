/**
 * libvirt's domain states, reasons and lifecycle event types, as `as const` tables whose
 * array index is the numeric value on libvirt's wire (virDomainState, virDomain*Reason,
 * virDomainEventType and its detail enums). Names are libvirt's, lower-cased.
 */

export const DOMAIN_STATES = [
  "nostate",
  "running",
  "blocked",
  "paused",
  "shutdown",
  "shutoff",
  "crashed",
  "pmsuspended",
] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

/** Reason names per state; index = libvirt's numeric reason. */
export const STATE_REASONS = {
  nostate: ["unknown"],
  running: [
    "unknown",
    "booted",
    "migrated",
    "restored",
    "from_snapshot",
    "unpaused",
    "migration_canceled",
    "save_canceled",
    "wakeup",
    "crashed",
    "postcopy",
    "postcopy_failed",
  ],
  blocked: ["unknown"],
  paused: [
    "unknown",
    "user",
    "migration",
    "save",
    "dump",
    "ioerror",
    "watchdog",
    "from_snapshot",
    "shutting_down",
    "snapshot",
    "crashed",
    "starting_up",
    "postcopy",
    "postcopy_failed",
    "api_error",
  ],
  shutdown: ["unknown", "user"],
  shutoff: ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot", "daemon"],
  crashed: ["unknown", "panicked"],
  pmsuspended: ["unknown"],
} as const satisfies Record<DomainState, readonly string[]>;

export type StateReason<S extends DomainState = DomainState> = (typeof STATE_REASONS)[S][number];

export interface StateWithReason {
  state: DomainState;
  reason: string;
}

export function stateNumber(state: DomainState): number {
  return DOMAIN_STATES.indexOf(state);
}

export function reasonNumber(state: DomainState, reason: string): number {
  const idx = (STATE_REASONS[state] as readonly string[]).indexOf(reason);
  return idx < 0 ? 0 : idx;
}

/** A guest is "active" (has a process) in every state except shutoff and nostate. */
export function isActive(state: DomainState): boolean {
  return state !== "shutoff" && state !== "nostate";
}

export const LIFECYCLE_EVENTS = [
  "defined",
  "undefined",
  "started",
  "suspended",
  "resumed",
  "stopped",
  "shutdown",
  "pmsuspended",
  "crashed",
] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENTS)[number];

/** Detail names per event type; index = libvirt's VIR_DOMAIN_EVENT_<TYPE>_<DETAIL> value. */
export const LIFECYCLE_DETAILS = {
  defined: ["added", "updated", "renamed", "from_snapshot"],
  undefined: ["removed", "renamed"],
  started: ["booted", "migrated", "restored", "from_snapshot", "wakeup"],
  suspended: [
    "paused",
    "migrated",
    "ioerror",
    "watchdog",
    "restored",
    "from_snapshot",
    "api_error",
    "postcopy",
    "postcopy_failed",
  ],
  resumed: ["unpaused", "migrated", "from_snapshot", "postcopy", "postcopy_failed"],
  stopped: ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot"],
  shutdown: ["finished", "guest", "host"],
  pmsuspended: ["memory", "disk"],
  crashed: ["panicked", "crashloaded"],
} as const satisfies Record<LifecycleEventType, readonly string[]>;

export type LifecycleDetail<T extends LifecycleEventType = LifecycleEventType> = (typeof LIFECYCLE_DETAILS)[T][number];

export function eventNumber(type: LifecycleEventType): number {
  return LIFECYCLE_EVENTS.indexOf(type);
}

export function detailNumber(type: LifecycleEventType, detail: string): number {
  const idx = (LIFECYCLE_DETAILS[type] as readonly string[]).indexOf(detail);
  return idx < 0 ? 0 : idx;
}

/** Lifecycle actions of `<on_poweroff>` etc. */
export const LIFECYCLE_ACTIONS = ["destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"] as const;
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];
