/**
 * `host.capabilities`: what `virsh capabilities` answers, as libvirt-format XML (default) or
 * as JSON with the same data.
 */
import { Type } from "@sinclair/typebox";
import { probeHostCapabilities, type HostProbeOptions } from "../../drivers/host/probe.js";
import { formatCapabilitiesXml, toCapabilitiesJson } from "../../model/capabilities.js";
import { defineCommand } from "../types.js";

export const CAPABILITY_FORMATS = ["xml", "json"] as const;

/** The command group, probing with `opts` (tests point it at a fixture tree). */
export function makeCapabilitiesCommands(opts: HostProbeOptions = {}) {
  return {
    "host.capabilities": defineCommand({
      summary: "host and hypervisor capabilities (libvirt capabilities XML, or JSON)",
      args: Type.Object(
        { format: Type.Optional(Type.Union(CAPABILITY_FORMATS.map((f) => Type.Literal(f)), { default: "xml" })) },
        { additionalProperties: false },
      ),
      target: "host",
      mutates: false,
      snmpWritable: false,
      since: "0.1",
      handler: async (_ctx, args): Promise<{ xml: string } | Record<string, unknown>> => {
        const caps = await probeHostCapabilities(opts);
        return args.format === "json" ? toCapabilitiesJson(caps) : { xml: formatCapabilitiesXml(caps) };
      },
    }),
  };
}

export const CAPABILITIES_COMMANDS = makeCapabilitiesCommands();
