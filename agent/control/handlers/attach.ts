/**
 * `domain.attach {pid, name?, timeout_ms?}`: take over a QEMU someone started by hand
 * (libvirt's old virDomainQemuAttach). The guest becomes transient and tainted.
 */
import { Type } from "@sinclair/typebox";
import { AgentError } from "../../model/errors.js";
import { defineCommand } from "../types.js";
import { toSummary } from "../views.js";

export const ATTACH_COMMANDS = {
  "domain.attach": defineCommand({
    summary: "take over a running QEMU the agent did not start (needs a QMP Unix socket); the guest is transient and tainted",
    args: Type.Object(
      {
        pid: Type.Integer({ minimum: 2, maximum: 4_194_304 }),
        name: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,63}$" })),
        timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
      },
      { additionalProperties: false },
    ),
    target: "host",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const hv = ctx.services.hypervisor;
      if (!hv.attachDomain) throw new AgentError("no_support", `the ${hv.info.name} driver cannot attach to processes`, { component: "control" });
      const { view, notes } = await hv.attachDomain(args.pid, { name: args.name, timeoutMs: args.timeout_ms });
      return { ...toSummary(view), pid: args.pid, notes };
    },
  }),
};
