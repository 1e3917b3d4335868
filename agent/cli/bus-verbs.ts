/**
 * `virtbus --bus URL --host H <verb>`: the same verbs over AMQP (BusRuntime), plus the
 * fleet verbs `fleet list` and `fleet events`. Credentials never come from argv: the user
 * is VIRTBUS_BUS_USER (default guest), the password is read from VIRTBUS_BUS_PASSWORD_FILE,
 * the exchange prefix is VIRTBUS_BUS_PREFIX (default virtbus).
 */
import type { Command } from "commander";
import type { EventEnvelope, EventName } from "../core/events.js";
import { FleetClient, SeqTracker, type WireEvent } from "../exporters/amqp/client.js";
import { isAgentError } from "../model/errors.js";
import type { VerbContext } from "./domain-verbs.js";
import { CliError, type CliRuntime } from "./runtime.js";

export async function connectFleet(url: string): Promise<FleetClient> {
  const env = process.env;
  try {
    return await FleetClient.connect({
      url,
      username: env["VIRTBUS_BUS_USER"] ?? "guest",
      ...(env["VIRTBUS_BUS_PASSWORD_FILE"] ? { password_file: env["VIRTBUS_BUS_PASSWORD_FILE"] } : {}),
      prefix: env["VIRTBUS_BUS_PREFIX"] ?? "virtbus",
    });
  } catch (e) {
    throw isAgentError(e) ? new CliError(e.code, e.message) : e;
  }
}

export function toEnvelope(e: WireEvent): EventEnvelope {
  return { name: e.event_type as EventName, epoch: e.epoch, seq: e.seq, time: Date.parse(e.time), payload: e.payload as never };
}

/** A CliRuntime over the bus: every verb becomes a command to one host. */
export class BusRuntime implements CliRuntime {
  private constructor(
    private readonly client: FleetClient,
    private readonly host: string,
  ) {}

  static async connect(url: string, host: string | undefined): Promise<BusRuntime> {
    if (!host) throw new CliError("invalid_arg", "--bus needs --host <id> (the target agent's host id)");
    return new BusRuntime(await connectFleet(url), host);
  }

  async call(op: string, args: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.client.invoke(this.host, op, args);
    } catch (e) {
      throw isAgentError(e) ? new CliError(e.code, e.message) : e;
    }
  }

  async subscribe(onEvent: (ev: EventEnvelope) => void): Promise<() => void> {
    const stop = await this.client.subscribe([{ exchange: "events", pattern: `ev.${this.host}.#` }], (e) => onEvent(toEnvelope(e)));
    return () => void stop();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function busUrl(program: Command): string {
  const url = program.opts<{ bus?: string }>().bus;
  if (!url) throw new CliError("invalid_arg", "fleet verbs need --bus <url>");
  return url;
}

interface FleetRow {
  host: string;
  name: string;
  uuid: string;
  state: string;
}

export function formatFleet(rows: FleetRow[]): string {
  const lines = [" Host             Name                 State", "-".repeat(56)];
  for (const r of rows) lines.push(` ${r.host.padEnd(16)} ${r.name.padEnd(20)} ${r.state}`);
  return lines.join("\n");
}

export function registerFleetVerbs(program: Command, ctx: VerbContext): void {
  const fleet = program.command("fleet").description("every agent on the bus (needs --bus)");
  fleet
    .command("list")
    .description("all hosts' guests, from fresh snapshots (host.resync broadcast)")
    .option("--wait <ms>", "how long to collect snapshots", "2000")
    .action(async (o: { wait: string }) => {
      const client = await connectFleet(busUrl(program));
      try {
        const { snapshots, refused } = await client.collectSnapshots(Math.max(100, Number(o.wait) || 2000));
        const rows: FleetRow[] = [];
        for (const [host, s] of [...snapshots].sort(([a], [b]) => a.localeCompare(b))) {
          for (const d of (s.payload["domains"] as FleetRow[] | undefined) ?? []) rows.push({ host, name: d.name, uuid: d.uuid, state: d.state });
        }
        ctx.print(rows, formatFleet);
        // A host that says no is not a host without guests: name it, and fail the command.
        if (refused.length > 0) {
          const why = refused.map((r) => `host ${r.host} refused host.resync: ${r.error?.message ?? r.status}`).join("; ");
          throw new CliError(refused[0]?.error?.code ?? "operation_failed", why);
        }
      } finally {
        await client.close();
      }
    });
  fleet
    .command("events")
    .description("follow events live; reports seq gaps per host (then ask host.resync)")
    .option("--count <n>", "exit after n events")
    .action((o: { count?: string }) => followEvents(program, ctx, o.count === undefined ? Infinity : Number(o.count)));
}

async function followEvents(program: Command, ctx: VerbContext, max: number): Promise<void> {
  const host = program.opts<{ host?: string }>().host ?? "*";
  const client = await connectFleet(busUrl(program));
  const tracker = new SeqTracker();
  let seen = 0;
  await new Promise<void>((resolve) => {
    void client.subscribe([{ exchange: "events", pattern: `ev.${host}.#` }, { exchange: "state", pattern: `st.${host}.snapshot` }], (e) => {
      const t = tracker.observe(e);
      if (t.repeat) return;
      if (t.gap > 0) ctx.print({ gap: { host: e.host, epoch: e.epoch, missing: t.gap, before_seq: e.seq } }, () => `!! ${e.host}: ${t.gap} event(s) missed before seq ${e.seq}; a snapshot will follow (or run host.resync)`);
      ctx.print(e, () => `${e.time} ${e.routingKey} seq=${e.seq} ${JSON.stringify(e.payload)}`);
      if (++seen >= max) resolve();
    });
    process.once("SIGINT", () => resolve());
  });
  await client.close();
}
