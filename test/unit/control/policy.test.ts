import { describe, expect, it } from "vitest";
import { Policy } from "../../../agent/control/policy.js";
import { makeHarness } from "../../helpers/harness.js";

const policy = {
  roles: { web_ops: { ops: ["domain.start", "domain.destroy", "domain.info"], domains: ["web-*"] } },
  users: { local: ["admin"], ctl: ["web_ops"], watcher: ["viewer"] },
};

describe("policy", () => {
  it("a role allows only its ops and, when it has patterns, only matching guests", () => {
    const p = new Policy(policy);
    const ctl = { user: "ctl", via: "amqp" } as const;
    expect(p.allows(ctl, "domain.start", "web-1")).toBe(true);
    expect(p.allows(ctl, "domain.start", "db-1")).toBe(false);
    expect(p.allows(ctl, "domain.undefine", "web-1")).toBe(false);
    expect(p.allows({ user: "watcher", via: "amqp" }, "domain.info", "db-1")).toBe(true);
    expect(p.allows({ user: "watcher", via: "amqp" }, "domain.destroy", "db-1")).toBe(false);
  });

  it("an unknown user and an empty user are refused", () => {
    const p = new Policy(policy);
    expect(() => p.authorise({ user: "mallory", via: "amqp" }, "host.ping")).toThrow(/may not run host.ping/);
    expect(() => p.authorise({ user: "", via: "amqp" }, "host.ping")).toThrow(/no authenticated user/);
  });

  it("a user mapped to an undefined role is a config error", () => {
    expect(() => new Policy({ roles: {}, users: { x: ["ghost"] } })).toThrow(/unknown role "ghost"/);
  });

  it("dispatch refuses a forbidden op with forbidden and leaves the guest alone", async () => {
    const h = await makeHarness({ demoDomains: 1, policy: { roles: {}, users: { watcher: ["viewer"] } } });
    const out = await h.dispatcher.run("domain.destroy", { domain: "demo-1" }, { user: "watcher", via: "amqp" });
    expect(out.error?.code).toBe("forbidden");
    expect(h.store.findDomain("demo-1")?.state).toBe("running");
  });
});
