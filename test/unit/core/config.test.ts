import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { validateConfig } from "../../../agent/core/config.js";
import { renderConfigTypes } from "../../../scripts/gen-config-types.js";

describe("config", () => {
  it("the empty config yields the embedded defaults", () => {
    const cfg = validateConfig({});
    expect(cfg.hypervisor.driver).toBe("auto");
    expect(cfg.state_dir).toBe("/var/lib/virtbus");
    expect(cfg.control.socket_path).toBe("/run/virtbus/virtbus.sock");
    expect(cfg.host_id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
  });

  it("unknown keys and bad values are each reported as a path: message line", () => {
    let lines: string[] = [];
    try {
      validateConfig({ bogus: 1, log_level: "loud", hypervisor: { driver: "xen", qmp_timeout_ms: 5 } });
    } catch (e) {
      lines = (e as Error).message.split("\n");
    }
    expect(lines).toContain("bogus: unknown key");
    expect(lines.some((l) => l.startsWith("log_level: must be equal to one of the allowed values"))).toBe(true);
    expect(lines.some((l) => l.startsWith("hypervisor.driver:"))).toBe(true);
    expect(lines).toContain("hypervisor.qmp_timeout_ms: must be >= 100");
  });

  it("a user mapped to an undefined role is rejected at load", () => {
    expect(() => validateConfig({ authz: { users: { ctl: ["ghost"] } } })).toThrow('authz.users.ctl: unknown role "ghost"');
  });

  it("the commented example config is valid", () => {
    const raw = parseYaml(readFileSync("config/agent.example.yaml", "utf8"));
    expect(() => validateConfig(raw)).not.toThrow();
  });

  it("the committed config type is generated from the current schema", async () => {
    expect(readFileSync("agent/core/config-types.ts", "utf8")).toBe(await renderConfigTypes());
  });

  it("the agent version matches package.json", async () => {
    const { VERSION } = await import("../../../agent/version.js");
    expect(VERSION).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
  });
});
