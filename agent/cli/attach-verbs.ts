/** `virtbus attach PID [--name N] [--timeout S]`: take over a QEMU started by hand. */
import { InvalidArgumentError, type Command } from "commander";
import type { DomainSummary } from "../control/views.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";
import { CliError } from "./runtime.js";

function parsePid(v: string): number {
  if (!/^[1-9]\d{0,6}$/.test(v)) throw new CliError("invalid_arg", `PID must be a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.1 || n > 60) throw new InvalidArgumentError("timeout must be 0.1..60 seconds");
  return n;
}

export function registerAttachVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("attach <pid>")
    .description("take over a running QEMU the agent did not start (it needs -qmp unix:PATH,server=on,wait=off); the guest is transient and tainted")
    .option("--name <name>", "domain name (default: QEMU's -name, else pid-<PID>)")
    .option("--timeout <seconds>", "how long to wait for the QMP socket (another client may hold it)", parseSeconds)
    .action((pid: string, o: { name?: string; timeout?: number }) => {
      // Checked before connecting: a typo must not depend on the agent being up.
      const args: Record<string, unknown> = { pid: parsePid(pid) };
      if (o.name !== undefined) args["name"] = o.name;
      if (o.timeout !== undefined) args["timeout_ms"] = Math.round(o.timeout * 1000);
      return withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.attach", args)) as DomainSummary & { notes: string[] };
        ctx.print(r, () => [`Domain '${r.name}' attached (pid ${pid}, uuid ${r.uuid}, tainted)`, ...r.notes.map((n) => `  note: ${n}`)].join("\n"));
      });
    });
}
