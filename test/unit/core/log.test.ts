import { describe, expect, it } from "vitest";
import { createRootLogger, redactSecrets } from "../../../agent/core/log.js";

function capture(level = "debug"): { log: ReturnType<typeof createRootLogger>; lines: Record<string, unknown>[]; raw: string[] } {
  const raw: string[] = [];
  const log = createRootLogger(level, {}, { write: (s: string) => void raw.push(s) });
  return {
    log,
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

describe("agent log", () => {
  it("redacts secret keys at any depth, in objects and arrays, and leaves the logged object alone", () => {
    const obj = {
      password: "p0",
      user: "ops",
      args: { passwd: "p1", keys: ["KEY_A"], nested: { deeper: { auth_key: "p2", priv_key: "p3", ok: 1 } } },
      list: [{ password: "p4" }, { fine: true }],
    };
    const snapshot = JSON.parse(JSON.stringify(obj)) as typeof obj;
    const out = redactSecrets(obj) as typeof obj;
    expect(out).toEqual({
      password: "***",
      user: "ops",
      args: { passwd: "***", keys: ["KEY_A"], nested: { deeper: { auth_key: "***", priv_key: "***", ok: 1 } } },
      list: [{ password: "***" }, { fine: true }],
    });
    expect(obj).toEqual(snapshot);
    // nothing to hide: the very same object, no copy
    const clean = { a: { b: [1, { c: "x" }] } };
    expect(redactSecrets(clean)).toBe(clean);
  });

  it("no secret reaches a log line, in the logged object at any depth (an audit record's args, an array of users) or as a key of a child's bindings", () => {
    const c = capture();
    c.log.info({ audit: { op: "domain.set_user_password", args: { user: "root", passwd: "hunter2" } } }, "command");
    c.log.child({ auth_key: "authsecret", host: "h1" }).warn({ snmp: { users: [{ name: "u", priv_key: "privsecret" }] } }, "snmp");
    c.log.info({ password: "top-level" }, "x");
    const text = c.raw.join("");
    for (const s of ["hunter2", "authsecret", "privsecret", "top-level"]) expect(text).not.toContain(s);
    expect(c.lines[0]).toMatchObject({ svc: "virtbus", msg: "command", audit: { args: { user: "root", passwd: "***" } } });
    expect(c.lines[1]).toMatchObject({ host: "h1", auth_key: "***", snmp: { users: [{ name: "u", priv_key: "***" }] } });
  });

  it("an Error is still logged through pino's serializer", () => {
    const c = capture();
    c.log.error({ err: new Error("boom") }, "failed");
    expect(c.lines[0]).toMatchObject({ err: { type: "Error", message: "boom" } });
  });
});
