/** Host verbs: `version` (virsh version) and `ping`. */
import type { Command } from "commander";
import { VERSION } from "../version.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";

interface HostInfo {
  host: string;
  version: string;
  driver: string;
  hypervisor_version: string;
  uptime_s: number;
  domains_total: number;
  domains_active: number;
}

export function registerHostVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("version")
    .description("CLI, agent and hypervisor versions")
    .action(() =>
      withRuntime(ctx, async (rt) => {
        const r = (await rt.call("host.info", {})) as HostInfo;
        ctx.print({ cli_version: VERSION, ...r }, (i) =>
          [
            `Compiled against CLI: virtbus ${VERSION}`,
            `Running agent:        virtbus ${i.version} on ${i.host} (${i.driver} driver, up ${i.uptime_s}s)`,
            `Running hypervisor:   ${i.hypervisor_version}`,
            `Guests:               ${i.domains_active} active of ${i.domains_total}`,
          ].join("\n"),
        );
      }),
    );
  program
    .command("ping")
    .description("check that the agent answers, with the round-trip time")
    .action(() =>
      withRuntime(ctx, async (rt) => {
        const t0 = performance.now();
        const r = (await rt.call("host.ping", {})) as { host: string };
        const ms = performance.now() - t0;
        ctx.print({ ...r, rtt_ms: Number(ms.toFixed(3)) }, (p) => `pong from ${p.host} in ${p.rtt_ms} ms`);
      }),
    );
}
