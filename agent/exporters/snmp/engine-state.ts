/**
 * SNMPv3 engine identity (RFC 3414 §2.2): snmpEngineID is generated once and persisted,
 * snmpEngineBoots increases at every start, snmpEngineTime counts seconds since this
 * boot. Kept in <stateDir>/snmp-engine.json, written atomically.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../core/atomic-file.js";
import { AgentError } from "../../model/errors.js";

export interface EngineState {
  engineId: Buffer;
  boots: number;
  /** monotonic ms at boot, for engineTime. */
  bootedAt: number;
}

/** RFC 3411 SnmpEngineID format 5 (octets) under net-snmp's enterprise number 8072. */
function newEngineId(): Buffer {
  return Buffer.concat([Buffer.from([0x80, 0x00, 0x1f, 0x88, 0x05]), randomBytes(12)]);
}

/** Loads (or creates) the engine file and persists boots + 1 before the agent answers anything. */
export async function bootEngine(stateDir: string, configuredId?: string): Promise<EngineState> {
  const path = join(stateDir, "snmp-engine.json");
  let engineId: Buffer | undefined = configuredId ? Buffer.from(configuredId.replace(/^0x/i, ""), "hex") : undefined;
  let boots = 0;
  try {
    const data = JSON.parse(await readFile(path, "utf8")) as { engine_id?: string; boots?: number };
    if (!engineId && typeof data.engine_id === "string") engineId = Buffer.from(data.engine_id, "hex");
    if (Number.isInteger(data.boots)) boots = data.boots as number;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new AgentError("config_unsupported", `${path}: unreadable engine state`, { component: "snmp", cause: err });
    }
  }
  engineId ??= newEngineId();
  if (engineId.length < 5 || engineId.length > 32) {
    throw new AgentError("invalid_arg", "snmp engine id must be 5..32 octets", { component: "snmp" });
  }
  // RFC 3414: at 2147483647 the engine must be reconfigured; we stop counting there.
  boots = Math.min(boots + 1, 2147483647);
  await writeFileAtomic(path, JSON.stringify({ engine_id: engineId.toString("hex"), boots }), { mode: 0o600 });
  return { engineId, boots, bootedAt: performance.now() };
}

export function engineTime(state: EngineState): number {
  return Math.floor((performance.now() - state.bootedAt) / 1000);
}
