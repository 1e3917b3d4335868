/**
 * The one error type that crosses a layer (libvirt's virError analogue).
 *
 * `code` is a closed, append-only union; `ERROR_TABLE` maps every code to what each
 * adapter shows for it, so AMQP replies, SNMP error-statuses, CLI exit codes and metric
 * labels agree everywhere.
 */

export const ERROR_CODES = [
  "invalid_arg",
  "xml_error",
  "config_unsupported",
  "domain.not_found",
  "network.not_found",
  "domain.exists",
  "network.exists",
  "operation_invalid",
  "operation_failed",
  "operation_timeout",
  "deadline_exceeded",
  "forbidden",
  "no_support",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const COMPONENTS = ["qemu", "network", "conf", "amqp", "snmp", "control", "config", "core"] as const;
export type Component = (typeof COMPONENTS)[number];

export type ReplyStatus = "error" | "rejected" | "expired";
export type SnmpErrorStatus = "wrongValue" | "inconsistentValue" | "inconsistentName" | "noAccess" | "commitFailed" | "genErr";

export interface ErrorMapping {
  /** AMQP reply status for this error. */
  reply: ReplyStatus;
  /** SNMP error-status a SET gets. */
  snmp: SnmpErrorStatus;
  /** CLI process exit code (0 is success, 1 is reserved for "unexpected"). */
  exit: number;
  /** Whether a caller may retry the same command unchanged. */
  retryable: boolean;
}

export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorMapping>> = {
  invalid_arg: { reply: "rejected", snmp: "wrongValue", exit: 2, retryable: false },
  xml_error: { reply: "rejected", snmp: "wrongValue", exit: 3, retryable: false },
  config_unsupported: { reply: "rejected", snmp: "wrongValue", exit: 4, retryable: false },
  "domain.not_found": { reply: "error", snmp: "inconsistentName", exit: 5, retryable: false },
  "network.not_found": { reply: "error", snmp: "inconsistentName", exit: 6, retryable: false },
  "domain.exists": { reply: "error", snmp: "inconsistentValue", exit: 7, retryable: false },
  "network.exists": { reply: "error", snmp: "inconsistentValue", exit: 8, retryable: false },
  operation_invalid: { reply: "error", snmp: "inconsistentValue", exit: 9, retryable: false },
  operation_failed: { reply: "error", snmp: "commitFailed", exit: 10, retryable: true },
  operation_timeout: { reply: "error", snmp: "commitFailed", exit: 11, retryable: true },
  deadline_exceeded: { reply: "expired", snmp: "commitFailed", exit: 12, retryable: false },
  forbidden: { reply: "rejected", snmp: "noAccess", exit: 13, retryable: false },
  no_support: { reply: "rejected", snmp: "wrongValue", exit: 14, retryable: false },
  internal: { reply: "error", snmp: "genErr", exit: 15, retryable: true },
};

export interface AgentErrorOptions {
  component?: Component;
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AgentError extends Error {
  readonly code: ErrorCode;
  readonly component: Component;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: AgentErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "AgentError";
    this.code = code;
    this.component = opts.component ?? "core";
    this.retryable = opts.retryable ?? ERROR_TABLE[code].retryable;
    this.details = opts.details ?? {};
  }

  /** The wire form used by AMQP replies, the CLI socket and `--json` output. */
  toJSON(): { code: ErrorCode; message: string; component: Component; retryable: boolean; details?: Record<string, unknown> } {
    const out = { code: this.code, message: this.message, component: this.component, retryable: this.retryable };
    return Object.keys(this.details).length > 0 ? { ...out, details: this.details } : out;
  }
}

export function isAgentError(e: unknown): e is AgentError {
  return e instanceof AgentError;
}

/** Wraps anything thrown by foreign code so only AgentError crosses a layer. */
export function toAgentError(e: unknown, component: Component = "core"): AgentError {
  if (e instanceof AgentError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new AgentError("internal", message, { component, cause: e });
}

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s);
}
