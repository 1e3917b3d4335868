/**
 * virsh's counters and identity verbs: domstats, domblkstat, domifstat, dommemstat, domid,
 * domuuid, domname. Counters come from domain.stats, printed with libvirt's names so that
 * scripts written against virsh keep parsing them.
 */
import type { Command } from "commander";
import type { DomainInfo, DomainStatsWire, DomainSummary } from "../control/views.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";
import { CliError, type CliRuntime } from "./runtime.js";

type Block = DomainStatsWire["blocks"][number];
type Iface = DomainStatsWire["interfaces"][number];

/** libvirt's memory stat tags, in virDomainMemoryStatTags order (virsh prints them so). */
const MEMORY_ORDER = ["swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available", "actual", "rss", "usable", "last_update", "disk_caches", "hugetlb_pgalloc", "hugetlb_pgfail"];

export function formatMemStat(memory: Record<string, number>): string {
  const rank = (k: string): number => (MEMORY_ORDER.includes(k) ? MEMORY_ORDER.indexOf(k) : MEMORY_ORDER.length);
  return Object.keys(memory)
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((k) => `${k} ${memory[k]}`)
    .join("\n");
}

const BLOCK_FIELDS: [string, (b: Block) => number][] = [
  ["rd_req", (b) => b.rd_reqs],
  ["rd_bytes", (b) => b.rd_bytes],
  ["wr_req", (b) => b.wr_reqs],
  ["wr_bytes", (b) => b.wr_bytes],
  ["flush_operations", (b) => b.flush_reqs],
  ["rd_total_times", (b) => b.rd_total_time_ns],
  ["wr_total_times", (b) => b.wr_total_time_ns],
  ["errs", (b) => b.errors],
];

/**
 * virsh domblkstat: one device's counters (`vda rd_req 12`), named by target or source
 * path, or without a device the sums over all of them behind an empty name (` rd_req 12`).
 * @throws CliError invalid_arg for a device the domain does not have.
 */
export function formatBlkStat(blocks: Block[], device: string | undefined): string {
  if (device === undefined) return BLOCK_FIELDS.map(([k, f]) => ` ${k} ${blocks.reduce((n, b) => n + f(b), 0)}`).join("\n");
  const b = blocks.find((x) => x.device === device || x.path === device);
  if (!b) throw new CliError("invalid_arg", `invalid argument: domain has no disk "${device}" (known: ${blocks.map((x) => x.device).join(", ") || "none"})`);
  return BLOCK_FIELDS.map(([k, f]) => `${device} ${k} ${f(b)}`).join("\n");
}

const IFACE_FIELDS = ["rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop"] as const;

/** virsh domifstat: an interface's counters, named by its tap or MAC. @throws CliError invalid_arg */
export function formatIfStat(interfaces: Iface[], name: string): string {
  const n = interfaces.find((x) => x.device === name || x.mac?.toLowerCase() === name.toLowerCase());
  if (!n) throw new CliError("invalid_arg", `invalid argument: domain has no interface "${name}" (known: ${interfaces.map((x) => x.device).join(", ") || "none"})`);
  return IFACE_FIELDS.map((k) => `${name} ${k} ${n[k]}`).join("\n");
}

/** virsh domstats for one domain: `Domain: 'NAME'` and `  group.key=value` lines, libvirt's keys. */
export function formatDomStats(info: DomainInfo, s: DomainStatsWire): string {
  const out: [string, string | number][] = [
    ["state.state", info.state_code],
    ["state.reason", info.reason_code],
    ["cpu.time", s.cpu_time_ns],
  ];
  if (s.user_time_ns !== null) out.push(["cpu.user", s.user_time_ns]);
  if (s.system_time_ns !== null) out.push(["cpu.system", s.system_time_ns]);
  out.push(["balloon.current", s.memory["actual"] ?? info.used_memory_kib], ["balloon.maximum", info.max_memory_kib]);
  // libvirt spells this one key with a hyphen
  for (const k of MEMORY_ORDER) if (k !== "actual" && s.memory[k] !== undefined) out.push([`balloon.${k === "last_update" ? "last-update" : k}`, s.memory[k]!]);
  out.push(["vcpu.current", s.vcpus.length], ["vcpu.maximum", info.vcpus]);
  for (const c of s.vcpus) out.push([`vcpu.${c.id}.state`, c.state], [`vcpu.${c.id}.time`, c.time_ns]);
  out.push(["net.count", s.interfaces.length]);
  s.interfaces.forEach((n, i) => {
    out.push([`net.${i}.name`, n.device]);
    for (const k of IFACE_FIELDS) out.push([`net.${i}.${k.replace("_", ".").replace("packets", "pkts")}`, n[k]]);
  });
  out.push(["block.count", s.blocks.length]);
  s.blocks.forEach((b, i) => {
    out.push([`block.${i}.name`, b.device]);
    if (b.path !== null) out.push([`block.${i}.path`, b.path]);
    out.push(
      [`block.${i}.rd.reqs`, b.rd_reqs],
      [`block.${i}.rd.bytes`, b.rd_bytes],
      [`block.${i}.rd.times`, b.rd_total_time_ns],
      [`block.${i}.wr.reqs`, b.wr_reqs],
      [`block.${i}.wr.bytes`, b.wr_bytes],
      [`block.${i}.wr.times`, b.wr_total_time_ns],
      [`block.${i}.fl.reqs`, b.flush_reqs],
    );
    if (b.allocation_bytes !== null) out.push([`block.${i}.allocation`, b.allocation_bytes]);
    if (b.capacity_bytes !== null) out.push([`block.${i}.capacity`, b.capacity_bytes]);
  });
  return [`Domain: '${info.name}'`, ...out.map(([k, v]) => `  ${k}=${v}`)].join("\n");
}

async function stats(rt: CliRuntime, domain: string): Promise<DomainStatsWire> {
  return (await rt.call("domain.stats", { domain })) as DomainStatsWire;
}

async function info(rt: CliRuntime, domain: string): Promise<DomainInfo> {
  return (await rt.call("domain.info", { domain })) as DomainInfo;
}

export function registerStatsVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("domstats <domain>")
    .description("a running domain's counters as virsh domstats prints them (state, cpu, balloon, vcpu, net, block)")
    .action((domain: string) =>
      withRuntime(ctx, async (rt) => {
        const i = await info(rt, domain);
        const s = await stats(rt, domain);
        ctx.print({ ...s, state_code: i.state_code, reason_code: i.reason_code }, () => formatDomStats(i, s));
      }),
    );
  program
    .command("domblkstat <domain> [device]")
    .description("block counters of one disk (target or path), or summed over all")
    .action((domain: string, device: string | undefined) => withRuntime(ctx, async (rt) => ctx.print((await stats(rt, domain)).blocks, (b) => formatBlkStat(b, device))));
  program
    .command("domifstat <domain> <interface>")
    .description("counters of one interface (tap name or MAC), as the guest sees them")
    .action((domain: string, iface: string) => withRuntime(ctx, async (rt) => ctx.print((await stats(rt, domain)).interfaces, (n) => formatIfStat(n, iface))));
  program
    .command("dommemstat <domain>")
    .description("memory statistics (KiB) of a running domain")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print((await stats(rt, domain)).memory, formatMemStat)));
  program
    .command("domid <domain>")
    .description("the runtime id of a domain (- when it is not running)")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print(await info(rt, domain), (i) => (i.id === null ? "-" : String(i.id)))));
  program
    .command("domuuid <domain>")
    .description("the UUID of a domain")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print(await info(rt, domain), (i) => i.uuid)));
  program
    .command("domname <domain>")
    .description("the name of a domain given by runtime id or UUID")
    .action((domain: string) =>
      withRuntime(ctx, async (rt) => {
        if (/^[0-9]+$/.test(domain)) {
          const list = (await rt.call("domain.list", {})) as DomainSummary[];
          const hit = list.find((d) => d.id === Number(domain));
          if (!hit) throw new CliError("domain.not_found", `no running domain with id ${domain}`);
          return ctx.print(hit, (d) => d.name);
        }
        ctx.print(await info(rt, domain), (i) => i.name);
      }),
    );
}
