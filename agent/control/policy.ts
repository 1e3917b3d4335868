/**
 * Role-based authorisation: broker/SNMP/local users map to roles, roles to allowed
 * operations (glob on the dotted name) and optionally guest-name patterns.
 */
import { AgentError } from "../model/errors.js";
import { globToRegExp } from "../model/glob.js";
import type { Caller } from "./types.js";

export interface RoleDef {
  /** Operation globs: "domain.*", "host.ping", "*". */
  ops: string[];
  /** Guest-name globs; absent means every guest. */
  domains?: string[];
}

export interface PolicyConfig {
  roles: Record<string, RoleDef | undefined>;
  /** user → role names. The key "local" applies to every CLI-socket caller. */
  users: Record<string, string[] | undefined>;
}

export const BUILTIN_ROLES: Record<string, RoleDef> = {
  admin: { ops: ["*"] },
  viewer: {
    ops: [
      "host.ping",
      "host.info",
      "host.capabilities",
      "domain.list",
      "domain.info",
      "domain.state",
      "domain.dumpxml",
      "network.list",
      "network.info",
      "network.dumpxml",
      "network.dhcp_leases",
    ],
  },
};

export const DEFAULT_POLICY: PolicyConfig = { roles: {}, users: { local: ["admin"] } };

interface CompiledRole {
  ops: RegExp[];
  domains?: RegExp[];
}

export class Policy {
  private readonly roles = new Map<string, CompiledRole>();

  constructor(private readonly config: PolicyConfig = DEFAULT_POLICY) {
    for (const [name, def] of Object.entries({ ...BUILTIN_ROLES, ...config.roles })) {
      if (!def) continue;
      const role: CompiledRole = { ops: def.ops.map(globToRegExp) };
      if (def.domains) role.domains = def.domains.map(globToRegExp);
      this.roles.set(name, role);
    }
    for (const [user, names] of Object.entries(config.users)) {
      for (const n of names ?? []) {
        if (!this.roles.has(n)) throw new AgentError("invalid_arg", `authz.users.${user}: unknown role "${n}"`, { component: "config" });
      }
    }
  }

  private rolesOf(caller: Caller): string[] {
    if (caller.via === "internal") return ["admin"];
    const key = caller.via === "cli" ? "local" : caller.user;
    return this.config.users[key] ?? [];
  }

  /** Whether `caller` may run `op`, on guest `domainName` when the op targets one. */
  allows(caller: Caller, op: string, domainName?: string): boolean {
    return this.rolesOf(caller).some((name) => {
      const role = this.roles.get(name);
      if (!role || !role.ops.some((re) => re.test(op))) return false;
      if (!role.domains || domainName === undefined) return true;
      return role.domains.some((re) => re.test(domainName));
    });
  }

  /** @throws AgentError forbidden */
  authorise(caller: Caller, op: string, domainName?: string): void {
    if (!caller.user) throw new AgentError("forbidden", "command has no authenticated user", { component: "control" });
    if (!this.allows(caller, op, domainName)) {
      const on = domainName === undefined ? "" : ` on "${domainName}"`;
      throw new AgentError("forbidden", `user "${caller.user}" may not run ${op}${on}`, { component: "control" });
    }
  }
}
