/** Host-level commands. */
import { Type } from "@sinclair/typebox";
import { hostname } from "node:os";
import { defineCommand } from "../types.js";

export const HOST_COMMANDS = {
  "host.ping": defineCommand({
    summary: "liveness check; answers at once",
    args: Type.Object({}, { additionalProperties: false }),
    target: "host",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx) => ({ host: ctx.services.hostId, time: Date.now() }),
  }),
  "host.info": defineCommand({
    summary: "agent version, uptime, driver and guest counts",
    args: Type.Object({}, { additionalProperties: false }),
    target: "host",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx) => {
      const s = ctx.services;
      const domains = s.store.listDomains();
      return {
        host: s.hostId,
        hostname: hostname(),
        version: s.version,
        uptime_s: Math.round((Date.now() - s.startedAt) / 1000),
        driver: s.hypervisor.info.name,
        hypervisor_version: s.hypervisor.info.hypervisorVersion,
        domain_types: s.hypervisor.info.domainTypes,
        domains_total: domains.length,
        domains_active: domains.filter((d) => d.state !== "shutoff").length,
        epoch: s.bus.epoch,
        last_seq: s.bus.lastSeq,
      };
    },
  }),
};
