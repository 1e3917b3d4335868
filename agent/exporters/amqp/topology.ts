/**
 * The AMQP topology of DESIGN.md §4, declared idempotently (every assert* is a no-op
 * when the entity already exists with the same arguments).
 */
import type { Channel } from "amqplib";

export interface TopologyNames {
  cmd: string;
  cmdQueue: string;
  reply: string;
  events: string;
  state: string;
  dlx: string;
  dlxQueue: string;
  /** Routing key that addresses this host on the cmd exchange. */
  hostKey: string;
  /** Routing key every host queue is bound with (broadcast). */
  allKey: string;
}

export function topologyNames(prefix: string, hostId: string): TopologyNames {
  return {
    cmd: `${prefix}.cmd`,
    cmdQueue: `${prefix}.cmd.${hostId}`,
    reply: `${prefix}.reply`,
    events: `${prefix}.events`,
    state: `${prefix}.state`,
    dlx: `${prefix}.dlx`,
    dlxQueue: `${prefix}.dlx.kept`,
    hostKey: `host.${hostId}`,
    allKey: "all",
  };
}

/** Exchanges shared by agents and controllers (a controller declares these too). */
export async function declareExchanges(ch: Channel, n: TopologyNames): Promise<void> {
  await ch.assertExchange(n.cmd, "direct", { durable: true });
  await ch.assertExchange(n.reply, "direct", { durable: true });
  await ch.assertExchange(n.events, "topic", { durable: true });
  await ch.assertExchange(n.state, "topic", { durable: true });
  await ch.assertExchange(n.dlx, "fanout", { durable: true });
  // Dead letters are kept in a queue so an operator can inspect poison commands.
  await ch.assertQueue(n.dlxQueue, { durable: true });
  await ch.bindQueue(n.dlxQueue, n.dlx, "");
}

/** Everything an agent needs: the shared exchanges plus its own command queue. */
export async function declareAgentTopology(ch: Channel, n: TopologyNames): Promise<void> {
  await declareExchanges(ch, n);
  // Quorum: replicated and durable; rejected/expired commands go to the dlx.
  await ch.assertQueue(n.cmdQueue, {
    durable: true,
    arguments: { "x-queue-type": "quorum", "x-dead-letter-exchange": n.dlx },
  });
  await ch.bindQueue(n.cmdQueue, n.cmd, n.hostKey);
  await ch.bindQueue(n.cmdQueue, n.cmd, n.allKey);
}

/** Removes a topology (tests and `prefix` migrations). Missing entities are fine. */
export async function deleteTopology(ch: Channel, n: TopologyNames): Promise<void> {
  await ch.deleteQueue(n.cmdQueue);
  await ch.deleteQueue(n.dlxQueue);
  for (const ex of [n.cmd, n.reply, n.events, n.state, n.dlx]) await ch.deleteExchange(ex);
}
