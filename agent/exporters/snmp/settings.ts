/**
 * The `snmp` config section as the exporter consumes it (snake_case, as in
 * config/agent.schema.json, whose defaults ajv has already filled in).
 */
export interface SnmpUser {
  name: string;
  auth_protocol: "sha" | "sha256" | "sha512";
  auth_key: string;
  priv_protocol: "aes" | "aes256b" | "aes256r";
  priv_key: string;
  access: "read" | "write";
}

export interface SnmpSink {
  host: string;
  port: number;
  version: "2c" | "3";
  community?: string;
  user?: string;
  inform: boolean;
}

export interface SnmpSettings {
  enabled: boolean;
  mode: "standalone" | "agentx";
  listen: { address: string; port: number };
  communities: { name: string; allow_remote: boolean }[];
  users: SnmpUser[];
  engine_id?: string;
  cache_ms: number;
  set_deadline_ms: number;
  agentx: { host: string; port: number; reconnect_ms: number; caller: string };
  notifications: {
    per_vm: boolean;
    bulk: boolean;
    /** More changes than this within one window become one bulk notification. */
    bulk_threshold: number;
    window_ms: number;
    retries: number;
    timeout_ms: number;
    /** Unacknowledged informs per sink before new ones are dropped. */
    max_inflight: number;
    sinks: SnmpSink[];
  };
}

type Configured = import("../../core/config-types.js").AgentConfig["snmp"];

/** Fills the defaults ajv does not apply inside array items, once, at the boundary. */
export function normaliseSettings(c: Configured): SnmpSettings {
  return {
    ...c,
    communities: c.communities.map((x) => ({ name: x.name, allow_remote: x.allow_remote ?? false })),
    users: c.users.map((u) => ({ ...u, auth_protocol: u.auth_protocol ?? "sha256", priv_protocol: u.priv_protocol ?? "aes", access: u.access ?? "read" })),
    notifications: {
      ...c.notifications,
      sinks: c.notifications.sinks.map((s) => ({ ...s, port: s.port ?? 162, version: s.version ?? "2c", inform: s.inform ?? false })),
    },
  };
}
