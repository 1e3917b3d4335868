/** The logger factory: main.ts creates the root, components get children. */
import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** Keys whose values are never written to a log line (secrets stay out of logs). */
export const REDACT_PATHS = [
  "password",
  "passwd",
  "*.password",
  "*.passwd",
  "*.*.password",
  "*.*.passwd",
  "args.passwd",
  "auth_key",
  "priv_key",
  "*.auth_key",
  "*.priv_key",
];

export function createRootLogger(level: string, opts: LoggerOptions = {}): Logger {
  return pino({
    level,
    base: { svc: "virtbus" },
    redact: { paths: REDACT_PATHS, censor: "***" },
    ...opts,
  });
}

/** A logger that drops everything: tests and pure callers that need one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
