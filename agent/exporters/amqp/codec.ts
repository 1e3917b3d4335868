/**
 * Wire shapes of the bus (DESIGN.md §4): the command envelope (validated with ajv), replies,
 * events and their routing keys. Pure: no I/O.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Ajv } from "ajv";
import type { EventEnvelope } from "../../core/events.js";
import { AgentError, ERROR_TABLE } from "../../model/errors.js";

export const WIRE_VERSION = 1;

const Name = Type.String({ minLength: 1, maxLength: 256 });

export const CommandEnvelope = Type.Object(
  {
    v: Type.Integer(),
    command_id: Type.String({ minLength: 1, maxLength: 128 }),
    op: Type.String({ minLength: 1, maxLength: 64, pattern: "^[a-z_.]+$" }),
    target: Type.Object(
      { host: Type.String({ minLength: 1, maxLength: 64 }), domain: Type.Optional(Name), network: Type.Optional(Name) },
      { additionalProperties: false },
    ),
    args: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    issued_at: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Number()])),
    deadline: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Number()])),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type CommandEnvelope = Static<typeof CommandEnvelope>;

const ajv = new Ajv({ allErrors: false, strict: false });
const checkEnvelope = ajv.compile(CommandEnvelope);

export const REPLY_STATUSES = ["accepted", "ok", "error", "rejected", "expired", "duplicate"] as const;
export type ReplyStatus = (typeof REPLY_STATUSES)[number];

export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface ReplyBody {
  v: number;
  in_reply_to: string | null;
  status: ReplyStatus;
  result?: unknown;
  error?: WireError;
  /** On `duplicate`: the first delivery's status ("unknown" when it never finished). */
  original_status?: ReplyStatus | "unknown";
  host: string;
  epoch: string;
  seq: number;
}

/** A reply minus the per-host fields the exporter adds when sending. */
export type ReplyCore = Pick<ReplyBody, "status" | "result" | "error" | "original_status">;

/**
 * Parses and validates a command body.
 * @throws AgentError invalid_arg (not JSON, wrong shape) or no_support (wrong `v`).
 */
export function parseCommand(content: Buffer): CommandEnvelope {
  let body: unknown;
  try {
    body = JSON.parse(content.toString("utf8"));
  } catch {
    throw new AgentError("invalid_arg", "command body is not JSON", { component: "amqp" });
  }
  if (typeof body === "object" && body !== null && "v" in body && body.v !== WIRE_VERSION) {
    throw new AgentError("no_support", `unsupported envelope version ${JSON.stringify(body.v)}; this agent speaks v${WIRE_VERSION}`, { component: "amqp" });
  }
  if (!checkEnvelope(body)) {
    const e = checkEnvelope.errors?.[0];
    const where = e?.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "(envelope)";
    throw new AgentError("invalid_arg", `${where}: ${e?.message ?? "invalid"}`, { component: "amqp" });
  }
  return body;
}

/** A deadline given as ms since the epoch or an ISO string; undefined when absent. @throws invalid_arg */
export function parseDeadline(d: string | number | undefined): number | undefined {
  if (d === undefined) return undefined;
  const ms = typeof d === "number" ? d : Date.parse(d);
  if (!Number.isFinite(ms)) throw new AgentError("invalid_arg", "deadline: not a time", { component: "amqp" });
  return ms;
}

/** The broker's `expiration` (ms, string) counted from `timestamp` (s): when it runs out. */
export function brokerDeadline(expiration: unknown, timestampS: unknown): number | undefined {
  const ttl = typeof expiration === "string" || typeof expiration === "number" ? Number(expiration) : NaN;
  if (!Number.isFinite(ttl) || typeof timestampS !== "number") return undefined;
  // AMQP timestamps have 1 s resolution: allow the second the message was sent in.
  return timestampS * 1000 + 999 + ttl;
}

/** The args dispatch() sees: target.domain/network become args.domain/network. */
export function commandArgs(env: CommandEnvelope): Record<string, unknown> {
  const args: Record<string, unknown> = { ...(env.args ?? {}) };
  if (env.target.domain !== undefined) args["domain"] = env.target.domain;
  if (env.target.network !== undefined) args["network"] = env.target.network;
  return args;
}

export function errorReply(e: AgentError): ReplyCore {
  return { status: ERROR_TABLE[e.code].reply, error: { code: e.code, message: e.message, retryable: e.retryable } };
}

/** Routing key of an internal event: ev.<host>.<object>.<action>. */
export function eventRoutingKey(hostId: string, ev: EventEnvelope): string {
  switch (ev.name) {
    case "domain.lifecycle":
      return `ev.${hostId}.domain.${(ev as EventEnvelope<"domain.lifecycle">).payload.event}`;
    case "network.lifecycle":
      return `ev.${hostId}.network.${(ev as EventEnvelope<"network.lifecycle">).payload.event}`;
    case "command.audit":
      return `ev.${hostId}.agent.audit`;
    case "agent.status":
      return `ev.${hostId}.agent.${(ev as EventEnvelope<"agent.status">).payload.event}`;
    default:
      return `ev.${hostId}.agent.${String(ev.name).replace(/[^a-z0-9_]/g, "_")}`;
  }
}

/** Converts a payload's camelCase keys to the wire's snake_case (one level deep is enough here). */
export function toWireKeys(o: unknown): unknown {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return o;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  return out;
}
