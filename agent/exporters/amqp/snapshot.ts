/** Bodies of st.<host>.snapshot and st.<host>.heartbeat, built only from the state store. */
import { randomUUID } from "node:crypto";
import type { Services } from "../../control/types.js";
import type { NetworkView } from "../../drivers/network.js";
import { toInfo } from "../../control/views.js";
import { WIRE_VERSION } from "./codec.js";

export function buildSnapshot(s: Services, epoch: string, seq: number, reason: string): Record<string, unknown> {
  const domains = s.store.listDomains().map((d) => {
    const st = s.store.getStats(d.uuid);
    return { ...toInfo(d, st?.cpuTimeNs), stats_collected_at: st ? new Date(st.collectedAt).toISOString() : null };
  });
  return {
    v: WIRE_VERSION,
    event_id: randomUUID(),
    event_type: "host.snapshot",
    host: s.hostId,
    epoch,
    seq,
    time: new Date().toISOString(),
    payload: {
      reason,
      version: s.version,
      uptime_s: Math.round((Date.now() - s.startedAt) / 1000),
      driver: s.hypervisor.info.name,
      domains,
      networks: (s.network?.listNetworks() ?? []).map(toNetworkWire),
    },
  };
}

function toNetworkWire(n: NetworkView): Record<string, unknown> {
  return { uuid: n.uuid, name: n.name, active: n.active, autostart: n.autostart, persistent: n.persistent, forward: n.forward, bridge: n.bridge, addresses: n.addresses };
}

export function buildHeartbeat(s: Services, epoch: string, h: { lastSeq: number; outboxDepth: number; connected: boolean }): Record<string, unknown> {
  return {
    v: WIRE_VERSION,
    event_type: "host.heartbeat",
    host: s.hostId,
    epoch,
    time: new Date().toISOString(),
    payload: { version: s.version, uptime_s: Math.round((Date.now() - s.startedAt) / 1000), last_seq: h.lastSeq, outbox_depth: h.outboxDepth },
  };
}
