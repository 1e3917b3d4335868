/** The logger factory: main.ts creates the root, components get children. */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** Keys whose values are never written to a log line, at any depth (secrets stay out of logs). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["password", "passwd", "auth_key", "priv_key"]);

/** Deeper than any object the agent logs; past it a value is dropped rather than walked. */
const MAX_DEPTH = 8;

/**
 * `v` with the value of every key in SECRET_KEYS replaced by "***", at any depth, in objects
 * and arrays. Copies only the objects on the way to a secret; `v` itself is never changed.
 *
 * pino's own `redact` (fast-redact) needs a path per depth (`*.password`, `*.*.password`, …)
 * and its wildcard paths cost every log line about 33 µs on the bench machine (a third of
 * the audit line of each command); this walk costs a few.
 */
export function redactSecrets(v: unknown, depth = 0): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = redactSecrets(v[i], depth + 1);
      if (r !== v[i]) (out ??= [...v])[i] = r;
    }
    return out ?? v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v; // Error, Buffer, Date: pino's serializers
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    const r = SECRET_KEYS.has(k) && x !== undefined ? "***" : redactSecrets(x, depth + 1);
    if (r !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = r;
  }
  return out ?? v;
}

/**
 * The options of the agent's loggers: level, service name, secrets redacted from every line:
 * at any depth of what is logged (formatters.log), and by key in a child logger's bindings
 * (pino compiles top-level `redact` paths into per-key stringifiers: no cost on lines
 * without them).
 */
export function loggerOptions(level: string, opts: LoggerOptions = {}): LoggerOptions {
  return {
    level,
    base: { svc: "virtbus" },
    redact: { paths: [...SECRET_KEYS], censor: "***" },
    formatters: { log: (o) => redactSecrets(o) as Record<string, unknown> },
    ...opts,
  };
}

/**
 * The agent's root logger: JSON lines to stdout (the service manager's journal), or to
 * `dest`. pino's own stdout destination writes through libuv's thread pool, so a stalled
 * journal never blocks the event loop (a synchronous write would, and with it every
 * command); what is queued is flushed when the process exits. Handing a single line to the
 * pool costs the loop about 32 µs, but bus commands' audit lines come in batches
 * (CommandConsumer), which share the writes.
 */
export function createRootLogger(level: string, opts: LoggerOptions = {}, dest?: DestinationStream): Logger {
  return dest ? pino(loggerOptions(level, opts), dest) : pino(loggerOptions(level, opts));
}

/** A logger that drops everything: tests and pure callers that need one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
