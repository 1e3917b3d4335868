/** Domain lifecycle commands (virsh's define/start/destroy/... family). */
import { Type } from "@sinclair/typebox";
import type { DomainStats, DomainView } from "../../core/state-store.js";
import { AgentError } from "../../model/errors.js";
import { isActive } from "../../model/state.js";
import { defineCommand, type CommandContext } from "../types.js";
import { toInfo, toStatsWire, toSummary } from "../views.js";

/** How long domain.stats waits for a guest before answering with its last values. */
const STATS_DEADLINE_MS = 2000;

/** Name or UUID of a domain, as virsh accepts it. */
export const DomainRef = Type.String({ minLength: 1, maxLength: 256 });
/** A domain or network XML document (`define` of either). */
export const XmlDocArgs = Type.Object({ xml: Type.String({ minLength: 1, maxLength: 1_048_576 }) }, { additionalProperties: false });
const ByDomain = Type.Object({ domain: DomainRef }, { additionalProperties: false });

function uuidOf(ctx: CommandContext): string {
  if (!ctx.domainUuid) throw new AgentError("internal", "domain target was not resolved", { component: "control" });
  return ctx.domainUuid;
}

/** The domain the dispatcher resolved. @throws AgentError domain.not_found when it went away meanwhile. */
function viewOf(ctx: CommandContext): DomainView {
  const uuid = uuidOf(ctx);
  const view = ctx.services.store.getDomain(uuid);
  if (!view) throw new AgentError("domain.not_found", `domain ${uuid} disappeared`, { component: "control" });
  return view;
}

/**
 * Stats collected now, or when the guest does not answer within `waitMs` the last ones the
 * stats collector got (stale): a hung guest still answers. @throws when there are none.
 */
async function statsOrLast(ctx: CommandContext, uuid: string, waitMs: number): Promise<{ stats: DomainStats; stale: boolean }> {
  try {
    return { stats: await ctx.services.hypervisor.getDomainStats(uuid, Date.now() + waitMs), stale: false };
  } catch (e) {
    const last = ctx.services.store.getStats(uuid);
    if (!last) throw e;
    return { stats: last, stale: true };
  }
}

/** A read-only command that takes only the domain. */
function domainQuery<R>(summary: string, handler: (ctx: CommandContext) => Promise<R>) {
  return defineCommand({ summary, args: ByDomain, target: "domain", mutates: false, snmpWritable: false, since: "0.1", handler });
}

/** A lifecycle verb that takes only the domain and returns its new summary. */
function simpleVerb(summary: string, call: (ctx: CommandContext, uuid: string) => Promise<DomainView>, long = false) {
  return defineCommand({
    summary,
    args: ByDomain,
    target: "domain",
    mutates: true,
    snmpWritable: true,
    long,
    since: "0.1",
    handler: async (ctx) => toSummary(await call(ctx, uuidOf(ctx))),
  });
}

export const DOMAIN_COMMANDS = {
  "domain.define": defineCommand({
    summary: "define (or update) a persistent domain from libvirt domain XML",
    args: XmlDocArgs,
    target: "host",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const { view, updated } = await ctx.services.hypervisor.defineDomain(args.xml);
      return { ...toSummary(view), updated };
    },
  }),
  "domain.undefine": defineCommand({
    summary: "remove a domain's persistent definition (nvram: what happens to a UEFI variable store, as virsh undefine --nvram / --keep-nvram)",
    args: Type.Object({ domain: DomainRef, nvram: Type.Optional(Type.Union([Type.Literal("remove"), Type.Literal("keep")])) }, { additionalProperties: false }),
    target: "domain",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const uuid = uuidOf(ctx);
      await ctx.services.hypervisor.undefineDomain(uuid, args.nvram === undefined ? {} : { nvram: args.nvram });
      return { uuid };
    },
  }),
  "domain.start": defineCommand({
    summary: "start a defined domain",
    args: Type.Object({ domain: DomainRef, paused: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    target: "domain",
    mutates: true,
    snmpWritable: true,
    long: true,
    since: "0.1",
    handler: async (ctx, args) => toSummary(await ctx.services.hypervisor.startDomain(uuidOf(ctx), { paused: args.paused ?? false })),
  }),
  "domain.shutdown": defineCommand({
    summary: "ask the guest to power off (ACPI); with timeout_ms, destroy it if it has not by then",
    args: Type.Object(
      { domain: DomainRef, timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })) },
      { additionalProperties: false },
    ),
    target: "domain",
    mutates: true,
    snmpWritable: true,
    long: true,
    since: "0.1",
    handler: async (ctx, args) => {
      const opts = args.timeout_ms === undefined ? {} : { timeoutMs: args.timeout_ms };
      return toSummary(await ctx.services.hypervisor.shutdownDomain(uuidOf(ctx), opts));
    },
  }),
  "domain.destroy": simpleVerb("power the guest off at once", (ctx, uuid) => ctx.services.hypervisor.destroyDomain(uuid)),
  "domain.suspend": simpleVerb("pause the guest's vCPUs", (ctx, uuid) => ctx.services.hypervisor.suspendDomain(uuid)),
  "domain.resume": simpleVerb("resume a paused guest", (ctx, uuid) => ctx.services.hypervisor.resumeDomain(uuid)),
  "domain.reboot": simpleVerb("ask the guest to reboot (ACPI)", (ctx, uuid) => ctx.services.hypervisor.rebootDomain(uuid)),
  "domain.reset": simpleVerb("hard-reset the guest", (ctx, uuid) => ctx.services.hypervisor.resetDomain(uuid)),
  "domain.autostart": defineCommand({
    summary: "start the domain when the agent starts",
    args: Type.Object({ domain: DomainRef, enable: Type.Boolean({ default: true }) }, { additionalProperties: false }),
    target: "domain",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => toSummary(await ctx.services.hypervisor.setAutostart(uuidOf(ctx), args.enable)),
  }),
  "domain.list": defineCommand({
    summary: "list domains (active only unless all)",
    args: Type.Object({ all: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    target: "host",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const views = ctx.services.store.listDomains().filter((v) => args.all === true || isActive(v.state));
      return views.map(toSummary).sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity) || a.name.localeCompare(b.name));
    },
  }),
  "domain.info": domainQuery("state, vCPUs, memory and CPU time of a domain (virsh dominfo)", async (ctx) => {
    const view = viewOf(ctx);
    const cpuTimeNs = isActive(view.state) ? (await statsOrLast(ctx, view.uuid, 1000).catch(() => undefined))?.stats.cpuTimeNs : undefined;
    return toInfo(view, cpuTimeNs);
  }),
  "domain.stats": domainQuery("CPU, vCPU, memory, block and interface counters of a running domain (virsh domstats)", async (ctx) => {
    const view = viewOf(ctx);
    if (!isActive(view.state)) throw new AgentError("operation_invalid", `domain "${view.name}" is not running`, { component: "control" });
    const { stats, stale } = await statsOrLast(ctx, view.uuid, STATS_DEADLINE_MS);
    return toStatsWire(view.name, stats, stale);
  }),
  "domain.state": domainQuery("state and reason of a domain (virsh domstate --reason)", async (ctx) => {
    const v = viewOf(ctx);
    return { state: v.state, reason: v.reason };
  }),
  "domain.dumpxml": defineCommand({
    summary: "domain XML, live when running unless inactive",
    args: Type.Object({ domain: DomainRef, inactive: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    target: "domain",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => ({ xml: await ctx.services.hypervisor.getDomainXml(uuidOf(ctx), { inactive: args.inactive ?? false }) }),
  }),
};
