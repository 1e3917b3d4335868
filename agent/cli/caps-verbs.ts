/** `virtbus capabilities [--json]`: virsh capabilities' XML, or the same data as JSON. */
import type { Command } from "commander";
import { withRuntime, type VerbContext } from "./domain-verbs.js";

export function registerCapsVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("capabilities")
    .description("host and hypervisor capabilities (libvirt capabilities XML; --json for JSON)")
    .action((_o: unknown, cmd: Command) =>
      withRuntime(ctx, async (rt) => {
        // --json is the program's global option: ask the agent for the JSON form then, so the
        // printed JSON is the capabilities themselves, not an XML string wrapped in JSON.
        const json = cmd.optsWithGlobals<{ json?: boolean }>().json === true;
        const r = (await rt.call("host.capabilities", { format: json ? "json" : "xml" })) as { xml?: string };
        ctx.print(r, (x) => (x.xml ?? "").trimEnd());
      }),
    );
}
