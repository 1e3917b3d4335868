/**
 * Graphics ports: QEMU picks a free VNC display itself (`to=`), but SPICE has no autoport,
 * so the driver finds a free port for it before spawning (as libvirt's port allocator
 * does). After the start the live definition records the ports actually used.
 */
import { createServer } from "node:net";
import type { DomainDef, GraphicsDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import type { QmpClient } from "./qmp.js";

const FIRST_PORT = 5900;
const LAST_PORT = 65535;

/** Ports for the autoport SPICE devices, keyed by graphics index. */
export async function pickGraphicsPorts(def: DomainDef): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  const taken = new Set(def.devices.graphics.filter((g) => !g.autoport).map((g) => g.port));
  for (const [i, g] of def.devices.graphics.entries()) {
    if (g.type !== "spice" || !g.autoport) continue;
    const port = await findFreePort(g.listen || "127.0.0.1", taken);
    taken.add(port);
    out[i] = port;
  }
  return out;
}

async function findFreePort(host: string, taken: Set<number>): Promise<number> {
  for (let port = FIRST_PORT; port <= LAST_PORT; port++) {
    if (!taken.has(port) && (await canListen(host, port))) return port;
  }
  throw new AgentError("operation_failed", `no free graphics port on ${host}`, { component: "qemu" });
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The live definition: autoport graphics get the port in use (VNC from query-vnc). */
export async function liveGraphics(def: DomainDef, qmp: QmpClient, spicePorts: Record<number, number>): Promise<DomainDef> {
  if (def.devices.graphics.length === 0) return def;
  const graphics: GraphicsDef[] = [];
  for (const [i, g] of def.devices.graphics.entries()) {
    if (!g.autoport) graphics.push(g);
    else if (g.type === "spice") graphics.push({ ...g, port: spicePorts[i] ?? g.port });
    else {
      const vnc = await qmp.execute<{ enabled: boolean; service?: string }>("query-vnc");
      graphics.push({ ...g, port: vnc.enabled && vnc.service ? Number(vnc.service) : g.port });
    }
  }
  return { ...def, devices: { ...def.devices, graphics } };
}
