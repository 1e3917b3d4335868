#!/usr/bin/env node
/**
 * `virtbus`: the CLI. virsh-style verbs over the agent's local socket (or, with --bus,
 * over AMQP). Exit code 0 on success, else the error code's exit number (model/errors.ts).
 */
import { Command, CommanderError } from "commander";
import { registerAttachVerbs } from "./cli/attach-verbs.js";
import { BusRuntime, registerFleetVerbs } from "./cli/bus-verbs.js";
import { registerCapsVerbs } from "./cli/caps-verbs.js";
import { registerDeviceVerbs } from "./cli/device-verbs.js";
import { registerStatsVerbs } from "./cli/stats-verbs.js";
import { registerDomainVerbs, type VerbContext } from "./cli/domain-verbs.js";
import { registerHostVerbs } from "./cli/host-verbs.js";
import { registerKeyVerbs } from "./cli/key-verbs.js";
import { registerNetVerbs } from "./cli/net-verbs.js";
import { CliError, SocketRuntime, type CliRuntime } from "./cli/runtime.js";
import { VERSION } from "./version.js";

interface GlobalOptions {
  socket: string;
  json?: boolean;
  bus?: string;
  host?: string;
}

export const DEFAULT_SOCKET = process.env["VIRTBUS_SOCKET"] ?? "/run/virtbus/virtbus.sock";

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Command {
  const program = new Command("virtbus")
    .description("control a virtbus agent (virsh-compatible verbs)")
    .version(VERSION)
    .option("--socket <path>", "the agent's control socket", DEFAULT_SOCKET)
    .option("--json", "print results as JSON (for scripts)")
    .option("--bus <url>", "talk to an agent over AMQP instead of the local socket")
    .option("--host <id>", "with --bus: the target agent's host id")
    .showHelpAfterError()
    .exitOverride();
  const ctx: VerbContext = {
    runtime: () => makeRuntime(program.opts<GlobalOptions>()),
    print: (result, human) => {
      if (program.opts<GlobalOptions>().json) return out(JSON.stringify(result, null, 2));
      const text = human(result);
      // A verb with nothing to say (send-key, as in virsh) prints nothing, not an empty line.
      if (text !== "") out(text);
    },
  };
  registerDomainVerbs(program, ctx);
  registerDeviceVerbs(program, ctx);
  registerStatsVerbs(program, ctx);
  registerHostVerbs(program, ctx);
  registerKeyVerbs(program, ctx);
  registerNetVerbs(program, ctx);
  registerFleetVerbs(program, ctx);
  registerCapsVerbs(program, ctx);
  registerAttachVerbs(program, ctx);
  return program;
}

async function makeRuntime(o: GlobalOptions): Promise<CliRuntime> {
  if (o.bus !== undefined) return BusRuntime.connect(o.bus, o.host);
  return SocketRuntime.connect(o.socket);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof CliError) {
      if (program.opts<GlobalOptions>().json) process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
      else process.stderr.write(`error: ${e.message} [${e.code}]\n`);
      return e.exitCode;
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/virtbus")) {
  process.exitCode = await main(process.argv);
}
