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

/**
 * The agent's root logger, writing JSON lines to stdout (the service manager's journal).
 * Asynchronously: a line is handed to the kernel by libuv's thread pool, so a command's
 * audit line costs its reply no write(2) (a synchronous stdout write sat between every
 * mutating command's handler and its reply). Lines still queued are flushed synchronously
 * when the process exits; only a SIGKILL can lose the last few milliseconds of them.
 */
export function createRootLogger(level: string, opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      base: { svc: "virtbus" },
      redact: { paths: REDACT_PATHS, censor: "***" },
      ...opts,
    },
    pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything: tests and pure callers that need one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
