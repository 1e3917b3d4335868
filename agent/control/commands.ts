/**
 * THE command table, shared by the CLI socket, AMQP and SNMP SET. Each group lives in
 * handlers/; this file only composes them, so adding a group is one line here.
 */
import { ATTACH_COMMANDS } from "./handlers/attach.js";
import { BUS_COMMANDS } from "./handlers/bus.js";
import { CAPABILITIES_COMMANDS } from "./handlers/capabilities.js";
import { DOMAIN_COMMANDS } from "./handlers/domain.js";
import { HOST_COMMANDS } from "./handlers/host.js";
import { KEY_COMMANDS } from "./handlers/keys.js";
import { NETWORK_COMMANDS } from "./handlers/network.js";
import type { CommandSpec } from "./types.js";

export const COMMANDS = {
  ...HOST_COMMANDS,
  ...DOMAIN_COMMANDS,
  ...KEY_COMMANDS,
  ...BUS_COMMANDS,
  ...CAPABILITIES_COMMANDS,
  ...NETWORK_COMMANDS,
  ...ATTACH_COMMANDS,
} satisfies Record<string, CommandSpec<any, unknown>>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type CommandName = keyof typeof COMMANDS;
