/** virsh-style network verbs: net-define, net-start, net-destroy, net-list, net-dhcp-leases, ... */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { NetworkView } from "../drivers/network.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";
import { formatTable } from "./format.js";
import { CliError } from "./runtime.js";

interface WireLease {
  expiry_time: number;
  type: string;
  ip_address: string;
  mac?: string;
  iaid?: string;
  hostname?: string;
  client_id?: string;
}

function yesNo(b: boolean): string {
  return b ? "yes" : "no";
}

function formatNetList(list: NetworkView[]): string {
  return formatTable(["Name", "State", "Autostart", "Persistent"], list.map((n) => [n.name, n.active ? "active" : "inactive", yesNo(n.autostart), yesNo(n.persistent)]));
}

function formatNetInfo(n: NetworkView): string {
  const rows: [string, string][] = [["Name", n.name], ["UUID", n.uuid], ["Active", yesNo(n.active)], ["Persistent", yesNo(n.persistent)], ["Autostart", yesNo(n.autostart)], ["Bridge", n.bridge], ["Forward", n.forward]];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join("\n");
}

function formatLeases(leases: WireLease[]): string {
  const when = (s: number) => (s === 0 ? "never" : new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19));
  return formatTable(
    ["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"],
    leases.map((l) => [when(l.expiry_time), l.mac ?? "-", l.type, l.ip_address, l.hostname ?? "-", l.client_id ?? "-"]),
  );
}

async function readXmlArg(file: string): Promise<string> {
  try {
    if (file !== "-") return await readFile(file, "utf8");
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  } catch (e) {
    throw new CliError("invalid_arg", `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** A verb taking only the network and printing "Network X <done>". */
function simpleNetVerb(program: Command, ctx: VerbContext, verb: string, op: string, done: string, help: string): void {
  program
    .command(`${verb} <network>`)
    .description(help)
    .action((network: string) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call(op, { network })) as { name: string };
        ctx.print(r, () => `Network ${r.name} ${done}`);
      }),
    );
}

function registerReadVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("net-list")
    .description("list active networks, as virsh does (--all: also inactive ones)")
    .option("--all", "active and inactive networks")
    .option("--inactive", "inactive networks only")
    .action((o: { all?: boolean; inactive?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const { networks } = (await rt.call("network.list", {})) as { networks: NetworkView[] };
        const shown = o.all ? networks : networks.filter((n) => n.active !== (o.inactive === true));
        ctx.print({ networks: shown }, (r) => formatNetList(r.networks));
      }),
    );
  program
    .command("net-info <network>")
    .description("show a network's state")
    .action((network: string) => withRuntime(ctx, async (rt) => ctx.print((await rt.call("network.info", { network })) as NetworkView, formatNetInfo)));
  program
    .command("net-dumpxml <network>")
    .description("print a network's XML")
    .action((network: string) => withRuntime(ctx, async (rt) => ctx.print((await rt.call("network.dumpxml", { network })) as { xml: string }, (r) => r.xml.trimEnd())));
  program
    .command("net-dhcp-leases <network>")
    .description("print the DHCP leases of a network")
    .action((network: string) => withRuntime(ctx, async (rt) => ctx.print((await rt.call("network.dhcp_leases", { network })) as { leases: WireLease[] }, (r) => formatLeases(r.leases))));
}

export function registerNetVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("net-define <file>")
    .description("define (or update) a network from an XML file ('-' reads stdin)")
    .action((file: string) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("network.define", { xml: await readXmlArg(file) })) as NetworkView;
        ctx.print(r, () => `Network ${r.name} defined from ${file}`);
      }),
    );
  simpleNetVerb(program, ctx, "net-undefine", "network.undefine", "has been undefined", "remove an inactive network's definition");
  simpleNetVerb(program, ctx, "net-start", "network.start", "started", "start a network");
  simpleNetVerb(program, ctx, "net-destroy", "network.stop", "destroyed", "stop a network, removing its bridge, rules and dnsmasq");
  program
    .command("net-autostart <network>")
    .description("start the network with the agent")
    .option("--disable", "do not start it with the agent")
    .action((network: string, o: { disable?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("network.autostart", { network, enabled: o.disable !== true })) as NetworkView;
        ctx.print(r, () => `Network ${r.name} ${r.autostart ? "marked as autostarted" : "unmarked as autostarted"}`);
      }),
    );
  registerReadVerbs(program, ctx);
}
