/** virsh-style domain verbs: define, start, destroy, list, dominfo, event --loop, ... */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { DomainInfo, DomainSummary } from "../control/views.js";
import type { EventEnvelope } from "../core/events.js";
import { formatDominfo, formatEvent, formatList, formatState } from "./format.js";
import { CliError, type CliRuntime } from "./runtime.js";

/** How verbs reach the agent and print: given by cli.ts, one per invocation. */
export interface VerbContext {
  runtime(): Promise<CliRuntime>;
  /** Prints `result` as JSON with --json, else as `human(result)`. */
  print<T>(result: T, human: (r: T) => string): void;
}

type Run = (rt: CliRuntime) => Promise<void>;

export async function withRuntime(ctx: VerbContext, run: Run): Promise<void> {
  const rt = await ctx.runtime();
  try {
    await run(rt);
  } finally {
    await rt.close();
  }
}

/** A verb whose only argument is the domain and whose reply is a summary. */
function lifecycleVerb(program: Command, ctx: VerbContext, verb: string, op: string, done: string, help: string): void {
  program
    .command(`${verb} <domain>`)
    .description(help)
    .action((domain: string) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call(op, { domain })) as DomainSummary;
        ctx.print(r, () => `Domain '${r.name}' ${done}`);
      }),
    );
}

export function registerDomainVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("define <file>")
    .description("define (or update) a domain from an XML file ('-' reads stdin)")
    .action((file: string) =>
      withRuntime(ctx, async (rt) => {
        const xml = file === "-" ? await readStdin() : await readXml(file);
        const r = (await rt.call("domain.define", { xml })) as DomainSummary;
        ctx.print(r, () => `Domain '${r.name}' defined from ${file}`);
      }),
    );
  program
    .command("undefine <domain>")
    .description("remove a domain's persistent definition")
    .option("--nvram", "also remove the guest's UEFI variable store")
    .option("--keep-nvram", "leave the guest's UEFI variable store on disk")
    .action((domain: string, o: { nvram?: boolean; keepNvram?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        if (o.nvram && o.keepNvram) throw new CliError("invalid_arg", "--nvram and --keep-nvram exclude each other");
        const args: Record<string, unknown> = { domain };
        if (o.nvram) args["nvram"] = "remove";
        if (o.keepNvram) args["nvram"] = "keep";
        // The reply is { uuid }: the name printed is the one the operator gave, as virsh does.
        ctx.print(await rt.call("domain.undefine", args), () => `Domain '${domain}' has been undefined`);
      }),
    );
  program
    .command("start <domain>")
    .description("start a defined domain")
    .option("--paused", "leave the guest paused after start")
    .action((domain: string, o: { paused?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.start", { domain, paused: o.paused === true })) as DomainSummary;
        ctx.print(r, () => `Domain '${r.name}' started`);
      }),
    );
  program
    .command("shutdown <domain>")
    .description("ask the guest to power off (ACPI)")
    .option("--timeout <seconds>", "destroy the guest if it has not powered off after this long", parseSeconds)
    .action((domain: string, o: { timeout?: number }) =>
      withRuntime(ctx, async (rt) => {
        const args = o.timeout === undefined ? { domain } : { domain, timeout_ms: o.timeout * 1000 };
        const r = (await rt.call("domain.shutdown", args)) as DomainSummary;
        ctx.print(r, () => `Domain '${r.name}' is being shutdown`);
      }),
    );
  lifecycleVerb(program, ctx, "destroy", "domain.destroy", "destroyed", "power the guest off at once");
  lifecycleVerb(program, ctx, "suspend", "domain.suspend", "suspended", "pause a running guest");
  lifecycleVerb(program, ctx, "resume", "domain.resume", "resumed", "resume a paused guest");
  lifecycleVerb(program, ctx, "reboot", "domain.reboot", "is being rebooted", "ask the guest to reboot");
  lifecycleVerb(program, ctx, "reset", "domain.reset", "was reset", "hard-reset the guest");
  registerQueryVerbs(program, ctx);
}

function registerQueryVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("autostart <domain>")
    .description("start the domain when the agent starts")
    .option("--disable", "do not autostart")
    .action((domain: string, o: { disable?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.autostart", { domain, enable: o.disable !== true })) as DomainSummary;
        ctx.print(r, () => `Domain '${r.name}' ${r.autostart ? "marked as autostarted" : "unmarked as autostarted"}`);
      }),
    );
  program
    .command("list")
    .description("list domains")
    .option("--all", "include inactive domains")
    .action((o: { all?: boolean }) =>
      withRuntime(ctx, async (rt) => ctx.print((await rt.call("domain.list", { all: o.all === true })) as DomainSummary[], formatList)),
    );
  program
    .command("dominfo <domain>")
    .description("domain information")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print((await rt.call("domain.info", { domain })) as DomainInfo, formatDominfo)));
  program
    .command("domstate <domain>")
    .description("domain state")
    .option("--reason", "also print the reason")
    .action((domain: string, o: { reason?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.state", { domain })) as { state: string; reason: string };
        ctx.print(r, (s) => formatState(s, o.reason === true));
      }),
    );
  program
    .command("dumpxml <domain>")
    .description("domain XML (live when running)")
    .option("--inactive", "the persistent definition, not the live one")
    .action((domain: string, o: { inactive?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.dumpxml", { domain, inactive: o.inactive === true })) as { xml: string };
        ctx.print(r, (x) => x.xml.trimEnd());
      }),
    );
  registerEventVerb(program, ctx);
}

function registerEventVerb(program: Command, ctx: VerbContext): void {
  program
    .command("event")
    .description("print events as they happen")
    .option("--domain <domain>", "only this domain's events (name or uuid)")
    .option("--loop", "keep printing until interrupted (default: exit after the first event)")
    .option("--timeout <seconds>", "stop after this long", parseSeconds)
    .option("--all", "every event type, not only lifecycle")
    .action(async (o: { domain?: string; loop?: boolean; timeout?: number; all?: boolean }) => {
      const rt = await ctx.runtime();
      await new Promise<void>((resolve) => {
        const timer = o.timeout === undefined ? undefined : setTimeout(resolve, o.timeout * 1000);
        const onEvent = (ev: EventEnvelope) => {
          if (!o.all && ev.name !== "domain.lifecycle") return;
          const p = ev.payload as { name?: string; uuid?: string };
          if (o.domain !== undefined && p.name !== o.domain && p.uuid !== o.domain) return;
          ctx.print(ev, formatEvent);
          if (!o.loop) {
            clearTimeout(timer);
            resolve();
          }
        };
        process.once("SIGINT", () => resolve());
        void rt.subscribe(onEvent);
      });
      await rt.close();
    });
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError("invalid_arg", `expected a positive number of seconds, got "${v}"`);
  return n;
}

async function readXml(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new CliError("invalid_arg", `cannot read ${file}: ${(e as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
