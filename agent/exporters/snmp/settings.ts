/**
 * The `snmp` config section as the exporter consumes it: the type derived from
 * config/agent.schema.json, whose defaults ajv has already filled in (array items too).
 */
import type { AgentConfig } from "../../core/config-types.js";

export type SnmpSettings = AgentConfig["snmp"];
export type SnmpUser = SnmpSettings["users"][number];
export type SnmpSink = SnmpSettings["notifications"]["sinks"][number];
