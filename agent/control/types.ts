/**
 * Types shared by the command table, its handlers and dispatch().
 */
import type { Static, TSchema } from "@sinclair/typebox";
import type { Logger } from "pino";
import type { EventBus } from "../core/bus.js";
import type { StateStore } from "../core/state-store.js";
import type { HypervisorDriver } from "../drivers/hypervisor.js";
import type { NetworkDriver } from "../drivers/network.js";

/** Who asked. `user` is the authenticated identity of the transport (broker user_id, SNMPv3 user, local uid). */
export interface Caller {
  user: string;
  via: "cli" | "amqp" | "snmp" | "internal";
}

/** What handlers may use. main.ts builds one; tests build one around drivers/fake. */
export interface Services {
  hypervisor: HypervisorDriver;
  /** Virtual networks; absent when the host runs without them (network.* then fail with no_support). */
  network?: NetworkDriver;
  store: StateStore;
  bus: EventBus;
  log: Logger;
  hostId: string;
  version: string;
  startedAt: number;
}

export interface CommandContext {
  services: Services;
  caller: Caller;
  commandId?: string;
  /** Absolute wall-clock ms after which the command must not start work. */
  deadline?: number;
  /** The domain UUID resolved by dispatch for `target: "domain"` commands. */
  domainUuid?: string;
  log: Logger;
}

export type TargetKind = "domain" | "network" | "host";

export interface CommandSpec<A extends TSchema = TSchema, R = unknown> {
  summary: string;
  /** Argument schema (TypeBox → JSON Schema, checked by ajv). Wire keys are snake_case. */
  args: A;
  target: TargetKind;
  /** Changes state (audited at info level, refused to read-only roles). */
  mutates: boolean;
  /** May be issued by an SNMP SET. */
  snmpWritable: boolean;
  /**
   * Acts only on the running guest instance (keyboard input): nothing outlives the QEMU
   * process. The bus then fsyncs its start record in the background (amqp.volatile_sync).
   */
  volatile?: boolean;
  /** Long-running: AMQP sends `accepted` before the final reply. */
  long?: boolean;
  /** Argument keys whose values are secrets (redacted in audit and logs). */
  secretArgs?: readonly string[];
  since: string;
  handler(ctx: CommandContext, args: Static<A>): Promise<R>;
}

/** Helper that keeps the `args` schema and the handler's argument type in step. */
export function defineCommand<A extends TSchema, R>(spec: CommandSpec<A, R>): CommandSpec<A, R> {
  return spec;
}
