/** Keyboard verbs: send-key (virsh syntax), type-text, keycode. */
import type { Command } from "commander";
import * as keycodes from "../model/keycodes.js";
import { AgentError } from "../model/errors.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";
import { CliError } from "./runtime.js";

/** A virsh key argument: a decimal/0x-hex number goes as a JSON integer, anything else as a name. */
export function parseKeyArg(s: string): number | string {
  return keycodes.parseKeyNumber(s) ?? s;
}

function parseHoldtime(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n)) throw new CliError("invalid_arg", `--holdtime: expected milliseconds, got "${v}"`);
  return n;
}

function hexOrDash(v: number | null): string {
  return v === null ? "-" : `${v} (0x${v.toString(16)})`;
}

function formatKeyTable(rows: readonly keycodes.KeyDescription[], to: keycodes.Codeset | undefined): string {
  if (to !== undefined) return rows.map((r) => String(r.codes[to])).join("\n");
  return rows
    .map((r) => {
      const lines = [`${r.name ?? "(unnamed)"}  qcode ${r.qcode ?? "-"}`];
      for (const c of keycodes.CODESETS) lines.push(`  ${c.padEnd(7)} ${hexOrDash(r.codes[c])}`);
      return lines.join("\n");
    })
    .join("\n\n");
}

/** Local translation (no agent needed); with --to, a key absent from that set is an error. */
function describeLocally(from: keycodes.Codeset, keys: string[], to: keycodes.Codeset | undefined): keycodes.KeyDescription[] {
  try {
    return keys.map((k) => {
      const d = keycodes.describeKey(keycodes.keyToLinux(from, parseKeyArg(k)));
      if (to !== undefined) keycodes.fromLinux(to, d.linux);
      return d;
    });
  } catch (e) {
    if (e instanceof AgentError) throw new CliError(e.code, e.message);
    throw e;
  }
}

function parseCodesetOpt(v: string): keycodes.Codeset {
  try {
    return keycodes.parseCodeset(v);
  } catch (e) {
    throw new CliError("invalid_arg", (e as Error).message);
  }
}

/** `keycode [DOMAIN] KEY...`: a first argument that is not a key of the set (and is not alone) is the domain. */
export function splitDomain(from: keycodes.Codeset, args: string[], flag: string | undefined): [string | undefined, string[]] {
  if (flag !== undefined || args.length < 2) return [flag, args];
  try {
    keycodes.keyToLinux(from, parseKeyArg(args[0]!));
    return [undefined, args];
  } catch {
    return [args[0], args.slice(1)];
  }
}

export function registerKeyVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("send-key <domain> <keys...>")
    .description("press keys together and release them (names or decimal/0x-hex codes of --codeset)")
    .option("--codeset <set>", "linux, xt, atset1, atset2, atset3, os_x (osx), xt_kbd, usb, win32, qnum (rfb)", "linux")
    .option("--holdtime <ms>", "hold each key this long (0: QEMU's default, 10 ms)", parseHoldtime)
    .action((domain: string, keys: string[], o: { codeset: string; holdtime?: number }) =>
      withRuntime(ctx, async (rt) => {
        const args = { domain, codeset: o.codeset, keys: keys.map(parseKeyArg), ...(o.holdtime === undefined ? {} : { holdtime: o.holdtime }) };
        ctx.print(await rt.call("domain.send_key", args), () => "");
      }),
    );
  program
    .command("type-text <domain> <text>")
    .description("type a string as key presses")
    .option("--layout <name>", "keyboard layout", "us")
    .option("--delay <ms>", "pause between characters", parseHoldtime)
    .action((domain: string, text: string, o: { layout: string; delay?: number }) =>
      withRuntime(ctx, async (rt) => {
        const args = { domain, text, layout: o.layout, ...(o.delay === undefined ? {} : { delay_ms: o.delay }) };
        const r = (await rt.call("domain.type_text", args)) as { characters: number };
        ctx.print(r, () => `typed ${r.characters} characters`);
      }),
    );
  program
    .command("keycode <args...>")
    .description("a key's code in one set (--to) or in every set; [DOMAIN] KEY... (with a domain, also whether its QEMU has the qcode)")
    .requiredOption("--from <set>", "the codeset KEYs are given in", parseCodesetOpt)
    .option("--to <set>", "print only the code in this set", parseCodesetOpt)
    .option("--domain <domain>", "ask the agent, checking the domain's QEMU for the qcode")
    .action(async (args: string[], o: { from: keycodes.Codeset; to?: keycodes.Codeset; domain?: string }) => {
      const [domain0, keys] = splitDomain(o.from, args, o.domain);
      const local = describeLocally(o.from, keys, o.to);
      if (domain0 === undefined) {
        ctx.print(local, (r) => formatKeyTable(r, o.to));
        return;
      }
      const domain = domain0;
      await withRuntime(ctx, async (rt) => {
        const r = (await rt.call("domain.keycode", { domain, from: o.from, keys: keys.map(parseKeyArg) })) as Array<keycodes.KeyDescription & { qcode_supported: boolean }>;
        ctx.print(r, (rows) => `${formatKeyTable(rows, o.to)}\n${rows.map((x) => `${x.name ?? x.linux}: qcode ${x.qcode_supported ? "supported" : "NOT supported"} by ${domain}'s QEMU`).join("\n")}`);
      });
    });
}
