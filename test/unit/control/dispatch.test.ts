import { describe, expect, it } from "vitest";
import { cloneArgs } from "../../../agent/control/dispatch.js";
import { AgentError } from "../../../agent/model/errors.js";
import { makeHarness } from "../../helpers/harness.js";

const local = { user: "local", via: "cli" } as const;

describe("dispatch", () => {
  it("an unknown command fails with no_support and is audited", async () => {
    const h = await makeHarness();
    const out = await h.dispatcher.run("domain.explode", {}, local);
    expect(out.ok).toBe(false);
    expect(out.error?.code).toBe("no_support");
    const audits = h.events.filter((e) => e.name === "command.audit");
    expect(audits.at(-1)?.payload).toMatchObject({ op: "domain.explode", result: "no_support", caller: "local" });
  });

  it("a transport that defers the audit gets it once the command is answered, with the duration measured before, one per command", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    const deferred: (() => void)[] = [];
    const audits = () => h.events.filter((e) => e.name === "command.audit");
    const before = audits().length;
    const ok = await h.dispatcher.run("domain.send_key", { domain: "demo-1", keys: ["KEY_A"] }, local, { commandId: "c1", deferAudit: (a) => deferred.push(a) });
    const bad = await h.dispatcher.run("domain.send_key", { domain: "demo-1", keys: ["NO_SUCH_KEY"] }, local, { commandId: "c2", deferAudit: (a) => deferred.push(a) });
    expect(ok.ok).toBe(true);
    expect(bad.error?.code).toBe("invalid_arg");
    expect(audits()).toHaveLength(before); // nothing audited while the transport replies
    expect(deferred).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 20));
    for (const a of deferred) a();
    const records = audits().slice(before).map((e) => e.payload as unknown as Record<string, unknown>);
    expect(records).toMatchObject([
      { commandId: "c1", op: "domain.send_key", result: "ok", durationMs: ok.durationMs },
      { commandId: "c2", result: "invalid_arg", durationMs: bad.durationMs },
    ]);
    expect(records[0]!["durationMs"]).toBeLessThan(20); // measured when the command ended, not when audited
  });

  it("arguments that break the schema fail with invalid_arg naming the field", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    await expect(h.dispatcher.dispatch("domain.shutdown", { domain: "demo-1", timeout_ms: -5 }, local)).rejects.toMatchObject({
      code: "invalid_arg",
      message: expect.stringContaining("timeout_ms"),
    });
    await expect(h.dispatcher.dispatch("domain.start", { domain: "demo-1", bogus: 1 }, local)).rejects.toMatchObject({
      code: "invalid_arg",
      message: expect.stringContaining('"bogus"'),
    });
  });

  it("the caller's args are never changed (defaults go into a copy), and a __proto__ key is refused, not adopted as a prototype", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    const args = { domain: "demo-1", keys: ["KEY_A"] };
    const out = (await h.dispatcher.dispatch("domain.send_key", args, local)) as { holdtime: number };
    expect(out.holdtime).toBe(0); // the default was filled in...
    expect(args).toEqual({ domain: "demo-1", keys: ["KEY_A"] }); // ...in a copy
    const hostile = JSON.parse('{"domain":"demo-1","keys":["KEY_A"],"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const bad = await h.dispatcher.run("domain.send_key", hostile, local);
    expect(bad.error?.code).toBe("invalid_arg");
    expect(bad.error?.message).toContain("__proto__");
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    // anything that is not plain JSON data is still copied whole
    const when = new Date(0);
    const copy = cloneArgs({ when, nested: [{ a: 1 }] }) as { when: Date; nested: { a: number }[] };
    expect(copy.when).toBeInstanceOf(Date);
    expect(copy.when).not.toBe(when);
    expect(copy.nested).toEqual([{ a: 1 }]);
  });

  it("args that are not an object are rejected before any lookup of the domain", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    const out = await h.dispatcher.run("domain.destroy", ["demo-1"], local);
    expect(out.error?.code).toBe("invalid_arg");
    expect(h.store.findDomain("demo-1")?.state).toBe("running");
  });

  it("a domain is found by name or by uuid, and a missing one fails with domain.not_found", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    const byName = (await h.dispatcher.dispatch("domain.state", { domain: "demo-2" }, local)) as { state: string };
    expect(byName.state).toBe("shutoff");
    const uuid = h.store.findDomain("demo-1")!.uuid;
    const byUuid = (await h.dispatcher.dispatch("domain.state", { domain: uuid.toUpperCase() }, local)) as { state: string };
    expect(byUuid.state).toBe("running");
    await expect(h.dispatcher.dispatch("domain.state", { domain: "nope" }, local)).rejects.toMatchObject({ code: "domain.not_found" });
  });

  it("a command past its deadline is never executed and fails with deadline_exceeded", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    const out = await h.dispatcher.run("domain.destroy", { domain: "demo-1" }, local, { deadline: Date.now() - 1 });
    expect(out.error?.code).toBe("deadline_exceeded");
    expect(h.store.findDomain("demo-1")?.state).toBe("running");
  });

  it("destroy on a shut-off domain fails with operation_invalid", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    await expect(h.dispatcher.dispatch("domain.destroy", { domain: "demo-2" }, local)).rejects.toBeInstanceOf(AgentError);
    await expect(h.dispatcher.dispatch("domain.destroy", { domain: "demo-2" }, local)).rejects.toMatchObject({ code: "operation_invalid" });
  });

  it("commands on one domain run one at a time in arrival order while other domains run in parallel", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    const order: string[] = [];
    const real = h.fake.suspendDomain.bind(h.fake);
    h.fake.suspendDomain = async (uuid) => {
      order.push(`suspend-start:${uuid.slice(0, 4)}`);
      await new Promise((r) => setTimeout(r, 30));
      order.push(`suspend-end:${uuid.slice(0, 4)}`);
      return real(uuid);
    };
    const a = h.dispatcher.run("domain.suspend", { domain: "demo-1" }, local);
    const b = h.dispatcher.run("domain.resume", { domain: "demo-1" }, local);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.ok).toBe(true);
    expect(rb.ok).toBe(true); // resume saw the suspended state: it ran after suspend finished
    expect(h.store.findDomain("demo-1")?.state).toBe("running");
  });

  it("the lifecycle of a guest emits libvirt's events in order", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    for (const op of ["domain.start", "domain.suspend", "domain.resume", "domain.destroy"]) {
      await h.dispatcher.dispatch(op, { domain: "demo-2" }, local);
    }
    const seen = h.events
      .filter((e) => e.name === "domain.lifecycle")
      .map((e) => e.payload as { name: string; event: string; detail: string })
      .filter((p) => p.name === "demo-2")
      .map((p) => `${p.event}/${p.detail}`);
    expect(seen).toEqual(["started/booted", "suspended/paused", "resumed/unpaused", "stopped/destroyed"]);
    const seqs = h.events.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it("domain.list shows active guests unless all is set", async () => {
    const h = await makeHarness({ demoDomains: 3 });
    const active = (await h.dispatcher.dispatch("domain.list", {}, local)) as { name: string }[];
    const all = (await h.dispatcher.dispatch("domain.list", { all: true }, local)) as { name: string }[];
    expect(active.map((d) => d.name)).toEqual(["demo-1"]);
    expect(all.map((d) => d.name)).toEqual(["demo-1", "demo-2", "demo-3"]);
  });
});
