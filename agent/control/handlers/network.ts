/** Virtual network commands (virsh's net-* family). */
import { Type } from "@sinclair/typebox";
import type { DhcpLease, NetworkDriver } from "../../drivers/network.js";
import { AgentError } from "../../model/errors.js";
import { defineCommand, type CommandContext } from "../types.js";
import { XmlDocArgs } from "./domain.js";

/** Name or UUID of a network, as virsh accepts it. */
export const NetworkRef = Type.String({ minLength: 1, maxLength: 256 });
const ByNetwork = Type.Object({ network: NetworkRef }, { additionalProperties: false });

function netOf(ctx: CommandContext): NetworkDriver {
  const n = ctx.services.network;
  if (!n) throw new AgentError("no_support", "this agent runs without virtual networks", { component: "control" });
  return n;
}

/** Wire form of a lease (snake_case keys, absent fields omitted). */
function leaseWire(l: DhcpLease): Record<string, unknown> {
  return { expiry_time: l.expiryTime, type: l.type, ip_address: l.ipAddress, mac: l.mac, iaid: l.iaid, hostname: l.hostname, client_id: l.clientId };
}

export const NETWORK_COMMANDS = {
  "network.define": defineCommand({
    summary: "define (or update) a persistent network from libvirt network XML",
    args: XmlDocArgs,
    target: "host",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const { view, updated } = await netOf(ctx).defineNetwork(args.xml);
      return { ...view, updated };
    },
  }),
  "network.undefine": defineCommand({
    summary: "remove an inactive network's definition",
    args: ByNetwork,
    target: "network",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => {
      const view = netOf(ctx).getNetwork(args.network);
      await netOf(ctx).undefineNetwork(view.uuid);
      return { uuid: view.uuid, name: view.name };
    },
  }),
  "network.start": defineCommand({
    summary: "start a network: bridge, addresses, firewall table and dnsmasq (all or nothing)",
    args: ByNetwork,
    target: "network",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => netOf(ctx).startNetwork(args.network),
  }),
  "network.stop": defineCommand({
    summary: "stop a network and remove everything its start created (virsh net-destroy)",
    args: ByNetwork,
    target: "network",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => netOf(ctx).stopNetwork(args.network),
  }),
  "network.autostart": defineCommand({
    summary: "start the network when the agent starts (or not)",
    args: Type.Object({ network: NetworkRef, enabled: Type.Boolean() }, { additionalProperties: false }),
    target: "network",
    mutates: true,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => netOf(ctx).setAutostart(args.network, args.enabled),
  }),
  "network.list": defineCommand({
    summary: "list defined networks",
    args: Type.Object({}, { additionalProperties: false }),
    target: "host",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx) => ({ networks: netOf(ctx).listNetworks() }),
  }),
  "network.info": defineCommand({
    summary: "one network's state",
    args: ByNetwork,
    target: "network",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => netOf(ctx).getNetwork(args.network),
  }),
  "network.dumpxml": defineCommand({
    summary: "a network's libvirt XML",
    args: ByNetwork,
    target: "network",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => ({ xml: netOf(ctx).getNetworkXml(args.network) }),
  }),
  "network.dhcp_leases": defineCommand({
    summary: "DHCP leases handed out by the network's dnsmasq",
    args: ByNetwork,
    target: "network",
    mutates: false,
    snmpWritable: false,
    since: "0.1",
    handler: async (ctx, args) => ({ leases: (await netOf(ctx).getDhcpLeases(args.network)).map(leaseWire) }),
  }),
};
