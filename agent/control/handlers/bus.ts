/** Commands about the bus itself. The AMQP exporter acts on the events they emit. */
import { Type } from "@sinclair/typebox";
import { defineCommand } from "../types.js";

export const BUS_COMMANDS = {
  "host.resync": defineCommand({
    summary: "publish a full state snapshot now (after a consumer saw a seq gap)",
    args: Type.Object({}, { additionalProperties: false }),
    target: "host",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx) => {
      const ev = ctx.services.bus.emit("host.resync", { requestedBy: ctx.caller.user, ...(ctx.commandId ? { commandId: ctx.commandId } : {}) });
      return { requested: true, epoch: ev.epoch };
    },
  }),
};
