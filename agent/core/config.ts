/**
 * Loads and validates the agent config against config/agent.schema.json (the one source
 * of validation, defaults and the TS type). Errors come back as `path: message` lines.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { Ajv, type ErrorObject } from "ajv";
import { parse as parseYaml } from "yaml";
import { AgentError } from "../model/errors.js";
import type { AgentConfig } from "./config-types.js";
import schema from "../../config/agent.schema.json" with { type: "json" };

export type { AgentConfig };

/** AgentConfig after cross-field resolution: derived paths and host id are filled in. */
export type ResolvedConfig = AgentConfig & { host_id: string; control: AgentConfig["control"] & { socket_path: string } };

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
// Marks settings that are read only at start; documented, and checked by reload logic.
ajv.addKeyword({ keyword: "requiresRestart", schemaType: "boolean" });
const validateSchema = ajv.compile(schema);

function errorLine(e: ErrorObject): string {
  const path = e.instancePath === "" ? "" : e.instancePath.slice(1).replace(/\//g, ".");
  if (e.keyword === "additionalProperties") {
    const key = String(e.params["additionalProperty"]);
    return `${path === "" ? key : `${path}.${key}`}: unknown key`;
  }
  if (e.keyword === "enum") {
    return `${path || "(root)"}: ${e.message ?? "invalid"} (${(e.params["allowedValues"] as unknown[]).join(", ")})`;
  }
  return `${path || "(root)"}: ${e.message ?? "invalid"}`;
}

/** A YAML section left with only comments (`control:`) parses as null: treat it as empty. */
function emptySectionsAsObjects(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const props = (schema as { properties: Record<string, { type?: string }> }).properties;
  const out = raw as Record<string, unknown>;
  for (const [k, v] of Object.entries(out)) if (v === null && props[k]?.type === "object") out[k] = {};
  return out;
}

/** Cross-field checks the schema cannot express; returns `path: message` lines. */
export function checkConfig(cfg: AgentConfig): string[] {
  const errors: string[] = [];
  const roles = new Set(["admin", "viewer", ...Object.keys(cfg.authz.roles)]);
  for (const [user, names] of Object.entries(cfg.authz.users)) {
    for (const n of names ?? []) if (!roles.has(n)) errors.push(`authz.users.${user}: unknown role "${n}"`);
  }
  return errors;
}

/**
 * Validates a parsed config object (defaults filled in place on a copy).
 * @throws AgentError invalid_arg with every error as one `path: message` line in the message.
 */
export function validateConfig(raw: unknown): ResolvedConfig {
  const cfg = emptySectionsAsObjects(structuredClone(raw ?? {})) as AgentConfig;
  if (!validateSchema(cfg)) {
    const lines = (validateSchema.errors ?? []).map(errorLine);
    throw new AgentError("invalid_arg", [...new Set(lines)].join("\n"), { component: "config", details: { lines } });
  }
  const lines = checkConfig(cfg);
  if (lines.length > 0) throw new AgentError("invalid_arg", lines.join("\n"), { component: "config", details: { lines } });
  const hostId = cfg.host_id ?? (hostname().split(".")[0] ?? "localhost").replace(/[^A-Za-z0-9_-]/g, "-");
  const socketPath = cfg.control.socket_path ?? `${cfg.run_dir}/virtbus.sock`;
  return { ...cfg, host_id: hostId, control: { ...cfg.control, socket_path: socketPath } };
}

/** Reads a YAML or JSON file (YAML is a superset) and validates it. */
export function loadConfigFile(path: string): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new AgentError("invalid_arg", `${path}: cannot read config: ${(cause as Error).message}`, { component: "config", cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (cause) {
    throw new AgentError("invalid_arg", `${path}: ${(cause as Error).message}`, { component: "config", cause });
  }
  return validateConfig(raw ?? {});
}
