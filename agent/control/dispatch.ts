/**
 * dispatch(): the libvirt API preamble in one place, shared by the CLI socket, AMQP and
 * SNMP SET. Lookup → argument validation → deadline → target resolution → authorisation
 * → per-object serialisation → handler → audit.
 */
import { Ajv, type ValidateFunction } from "ajv";
import type { Logger } from "pino";
import { AgentError, toAgentError, type ErrorCode } from "../model/errors.js";
import type { Policy } from "./policy.js";
import type { Caller, CommandSpec, Services } from "./types.js";
import { KeyedMutex } from "./mutex.js";

export interface DispatchOptions {
  commandId?: string;
  /** Absolute wall-clock ms; a command that would start later is never executed. */
  deadline?: number;
  /**
   * Takes the command's audit (log line and `command.audit` event, duration already
   * measured) and runs it once the transport has sent its reply, so the audit costs the
   * caller's round trip nothing. The transport must run it exactly once. Absent: at once.
   */
  deferAudit?: (audit: () => void) => void;
}

export interface DispatchOutcome {
  ok: boolean;
  result?: unknown;
  error?: AgentError;
  durationMs: number;
}

type AnyCommand = CommandSpec<any, unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, removeAdditional: false, strict: false });

export function formatAjvErrors(errors: ValidateFunction["errors"]): string {
  return (errors ?? [])
    .map((e) => {
      const where = e.instancePath === "" ? "(args)" : e.instancePath.slice(1).replace(/\//g, ".");
      const extra = e.keyword === "additionalProperties" ? ` "${String(e.params["additionalProperty"])}"` : "";
      return `${where}: ${e.message ?? "invalid"}${extra}`;
    })
    .join("; ");
}

export class Dispatcher {
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly mutex = new KeyedMutex();

  constructor(
    readonly commands: Readonly<Record<string, AnyCommand>>,
    private readonly services: Services,
    private readonly policy: Policy,
  ) {
    for (const [name, spec] of Object.entries(commands)) this.validators.set(name, ajv.compile(spec.args));
  }

  /** Throws AgentError on any failure; returns the handler's result. */
  async dispatch(op: string, rawArgs: unknown, caller: Caller, opts: DispatchOptions = {}): Promise<unknown> {
    const outcome = await this.run(op, rawArgs, caller, opts);
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /** Like dispatch() but never throws: the shape transports build replies from. */
  async run(op: string, rawArgs: unknown, caller: Caller, opts: DispatchOptions = {}): Promise<DispatchOutcome> {
    const t0 = performance.now();
    let target: string | undefined;
    let args: Record<string, unknown> = {};
    try {
      const spec = this.lookup(op);
      args = this.validate(op, rawArgs ?? {});
      this.checkDeadline(opts.deadline);
      const domain = spec.target === "domain" ? this.resolveDomain(args) : undefined;
      target = domain?.name ?? (typeof args["network"] === "string" ? args["network"] : undefined);
      this.policy.authorise(caller, op, domain?.name);
      const key = domain ? `domain:${domain.uuid}` : spec.target === "network" ? `network:${target ?? ""}` : `host:${op}`;
      const result = await this.mutex.run(key, async () => {
        this.checkDeadline(opts.deadline); // it may have passed while waiting for the lock
        const services = this.services;
        let log: Logger | undefined;
        return spec.handler(
          {
            services,
            caller,
            commandId: opts.commandId,
            deadline: opts.deadline,
            domainUuid: domain?.uuid,
            // Built on first use: most handlers never log, and a pino child per command is not free.
            get log(): Logger {
              return (log ??= services.log.child(domain ? { op, domain: domain.uuid } : { op }));
            },
          },
          args,
        );
      });
      const durationMs = performance.now() - t0;
      this.auditNowOrLater(op, args, caller, opts, target, "ok", durationMs);
      return { ok: true, result, durationMs };
    } catch (e) {
      const error = toAgentError(e, "control");
      const durationMs = performance.now() - t0;
      this.auditNowOrLater(op, args, caller, opts, target, error.code, durationMs);
      return { ok: false, error, durationMs };
    }
  }

  lookup(op: string): AnyCommand {
    const spec = Object.hasOwn(this.commands, op) ? this.commands[op] : undefined;
    if (!spec) throw new AgentError("no_support", `unknown command "${op}"`, { component: "control" });
    return spec;
  }

  private validate(op: string, raw: unknown): Record<string, unknown> {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new AgentError("invalid_arg", `${op}: args must be an object`, { component: "control" });
    }
    const args = cloneArgs(raw) as Record<string, unknown>; // ajv fills defaults in place
    const validate = this.validators.get(op);
    if (validate && !validate(args)) {
      throw new AgentError("invalid_arg", `${op}: ${formatAjvErrors(validate.errors)}`, { component: "control" });
    }
    return args;
  }

  private checkDeadline(deadline: number | undefined): void {
    if (deadline !== undefined && Date.now() > deadline) {
      throw new AgentError("deadline_exceeded", `deadline ${new Date(deadline).toISOString()} passed; not executed`, {
        component: "control",
      });
    }
  }

  private resolveDomain(args: Record<string, unknown>): { uuid: string; name: string } {
    const ref = args["domain"];
    if (typeof ref !== "string") throw new AgentError("invalid_arg", "domain: required", { component: "control" });
    const view = this.services.store.findDomain(ref);
    if (!view) throw new AgentError("domain.not_found", `no domain with name or uuid "${ref}"`, { component: "control" });
    return { uuid: view.uuid, name: view.name };
  }

  private auditNowOrLater(op: string, args: Record<string, unknown>, caller: Caller, opts: DispatchOptions, target: string | undefined, result: "ok" | ErrorCode, durationMs: number): void {
    if (opts.deferAudit) opts.deferAudit(() => this.audit(op, args, caller, opts, target, result, durationMs));
    else this.audit(op, args, caller, opts, target, result, durationMs);
  }

  private audit(op: string, args: Record<string, unknown>, caller: Caller, opts: DispatchOptions, target: string | undefined, result: "ok" | ErrorCode, durationMs: number): void {
    const spec = Object.hasOwn(this.commands, op) ? this.commands[op] : undefined;
    const redacted = redactArgs(args, spec?.secretArgs ?? []);
    const record = { commandId: opts.commandId, caller: caller.user, via: caller.via, op, target, args: redacted, result, durationMs };
    if (spec?.mutates || result !== "ok") this.services.log.info({ audit: record }, "command");
    else this.services.log.debug({ audit: record }, "command");
    this.services.bus.emit("command.audit", record);
  }
}

/**
 * A deep copy of JSON-shaped arguments (what every transport delivers), ~10x cheaper than
 * structuredClone on the command path; anything else (a Buffer, a Date) goes to
 * structuredClone. A "__proto__" key stays an own property, so the schema refuses it
 * instead of it becoming the copy's prototype.
 */
export function cloneArgs(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(cloneArgs);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "__proto__") Object.defineProperty(out, k, { value: cloneArgs(x), enumerable: true, writable: true, configurable: true });
    else out[k] = cloneArgs(x);
  }
  return out;
}

export function redactArgs(args: Record<string, unknown>, secrets: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) out[k] = secrets.includes(k) ? "***" : v;
  return out;
}
