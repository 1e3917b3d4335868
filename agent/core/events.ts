/**
 * The typed event catalogue of the agent's internal bus. Drivers publish, exporters
 * subscribe. Names are the wire names (lower-case dotted).
 */
import type { DomainState, LifecycleEventType } from "../model/state.js";
import type { ErrorCode } from "../model/errors.js";

export interface DomainLifecycle {
  uuid: string;
  name: string;
  /** libvirt's VIR_DOMAIN_EVENT_* type and detail names (see model/state.ts). */
  event: LifecycleEventType;
  detail: string;
  /** State and reason after the event. */
  state: DomainState;
  reason: string;
  /** The command that caused it, when one did. */
  causedBy?: string;
  requestedBy?: string;
}

export interface NetworkLifecycle {
  uuid: string;
  name: string;
  event: "defined" | "undefined" | "started" | "stopped";
}

export interface CommandAudit {
  commandId?: string;
  caller: string;
  via: string;
  op: string;
  target?: string;
  /** Arguments with secrets replaced by "***". */
  args: unknown;
  result: "ok" | ErrorCode;
  durationMs: number;
}

export interface AgentStatus {
  event: "started" | "stopping";
  version: string;
}

/** A request for a full state snapshot on the bus (the `host.resync` command). */
export interface HostResync {
  requestedBy: string;
  commandId?: string;
}

export interface AgentEvents {
  "domain.lifecycle": DomainLifecycle;
  "network.lifecycle": NetworkLifecycle;
  "command.audit": CommandAudit;
  "agent.status": AgentStatus;
  "host.resync": HostResync;
}

export type EventName = keyof AgentEvents;

/** What every subscriber receives: the payload plus ordering data. */
export interface EventEnvelope<K extends EventName = EventName> {
  name: K;
  /** Per-boot id of the agent. */
  epoch: string;
  /** Increases by one per event within an epoch. */
  seq: number;
  time: number;
  payload: AgentEvents[K];
}
