/**
 * domain.attach against real QEMU processes started BY THE TEST (never by the agent), one
 * with modern and one with legacy arguments, through the dispatcher over the real driver.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../../agent/control/types.js";
import { statusPath } from "../../../agent/drivers/qemu/status.js";
import { makeQemuHarness, type QemuHarness } from "../../helpers/qemu-harness.js";
import { isAlive, QEMU_BINARY, requireQemu, sleep } from "./helpers.js";

const CALLER: Caller = { user: "root", via: "internal" };
const UUID = "5a1e0c1d-2b3a-4c5d-8e6f-0123456789ab";

describe("domain.attach takes over QEMU processes the agent did not start", () => {
  let dir: string;
  const children: ChildProcess[] = [];
  const harnesses: QemuHarness[] = [];

  beforeAll(() => {
    requireQemu();
    try {
      execFileSync("qemu-img", ["--version"], { stdio: "pipe" });
    } catch {
      throw new Error("qemu-img not found: install the Debian package qemu-utils");
    }
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.cleanup();
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  async function harness(d?: string): Promise<QemuHarness> {
    const h = await makeQemuHarness(d === undefined ? {} : { dir: d });
    harnesses.push(h);
    return h;
  }

  /** Starts QEMU as the test's own child and waits until `waitFor` (its socket) exists. */
  async function startQemu(args: string[], waitFor?: string): Promise<ChildProcess> {
    const c = spawn(QEMU_BINARY, args, { stdio: ["ignore", "ignore", "pipe"] });
    children.push(c);
    let err = "";
    c.stderr?.on("data", (b: Buffer) => (err += b.toString()));
    const t0 = Date.now();
    while (Date.now() - t0 < 10_000) {
      if (c.exitCode !== null) throw new Error(`QEMU exited: ${err}`);
      // The socket file appears at bind(), before QEMU listens: a connect in between is refused.
      if (waitFor === undefined ? Date.now() - t0 > 300 : existsSync(waitFor) && (await accepts(waitFor))) return c;
      await sleep(20);
    }
    throw new Error(`QEMU did not create ${waitFor ?? "?"}: ${err}`);
  }

  const attach = (h: QemuHarness, args: Record<string, unknown>) => h.dispatcher.dispatch("domain.attach", args, CALLER);
  const failure = async (h: QemuHarness, args: Record<string, unknown>) => {
    const e = await attach(h, args).then(() => undefined, (x: unknown) => x as { code: string; message: string });
    if (!e) throw new Error("attach unexpectedly succeeded");
    return e;
  };

  function modernArgs(qmp: string): string[] {
    return ["-machine", "pc", "-accel", "tcg", "-m", "64", "-smp", "1", "-name", "guest=hand,debug-threads=on", "-uuid", UUID,
      "-qmp", `unix:${qmp},server=on,wait=off`, "-nodefaults", "-display", "none", "-S"];
  }

  it("attaches a modern command line: list, info (tainted), dumpxml, status file, destroy removes the transient guest", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const qmp = join(dir, "modern.qmp");
    const q = await startQemu(modernArgs(qmp), qmp);
    const h = await harness();
    const r = (await attach(h, { pid: q.pid })) as { name: string; uuid: string; tainted: boolean; persistent: boolean; state: string };
    expect(r).toMatchObject({ name: "hand", uuid: UUID, tainted: true, persistent: false, state: "paused" });
    const list = (await h.dispatcher.dispatch("domain.list", {}, CALLER)) as Array<{ name: string; tainted: boolean }>;
    expect(list).toContainEqual(expect.objectContaining({ name: "hand", tainted: true }));
    const info = (await h.dispatcher.dispatch("domain.info", { domain: "hand" }, CALLER)) as Record<string, unknown>;
    expect(info).toMatchObject({ tainted: true, vcpus: 1, max_memory_kib: 65536, pid: q.pid, state: "paused" });
    const { xml } = (await h.dispatcher.dispatch("domain.dumpxml", { domain: "hand" }, CALLER)) as { xml: string };
    expect(xml).toMatch(/<domain type='qemu' id='\d+'>/);
    expect(xml).toContain(`<uuid>${UUID}</uuid>`);
    expect(xml).toContain("<virtbus:monitor>");
    expect(existsSync(statusPath(h.runDir, UUID))).toBe(true);
    const d = (await h.dispatcher.dispatch("domain.destroy", { domain: "hand" }, CALLER)) as { state: string };
    expect(d.state).toBe("shutoff");
    expect(isAlive(q.pid!)).toBe(false);
    expect(h.store.getDomain(UUID)).toBeUndefined();
    expect(existsSync(statusPath(h.runDir, UUID))).toBe(false);
  });

  it("attaches a legacy command line (-hda, -net, -vnc, -monitor and -qmp unix) named pid-<PID>, running", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const disk = join(dir, "disk.img");
    execFileSync("qemu-img", ["create", "-q", "-f", "raw", disk, "1M"]);
    const qmp = join(dir, "legacy.qmp");
    const display = 60 + (process.pid % 39);
    const q = await startQemu(["-hda", disk, "-net", "nic", "-net", "user", "-vnc", `127.0.0.1:${display}`, "-m", "64",
      "-monitor", `unix:${join(dir, "hmp.sock")},server,nowait`, "-qmp", `unix:${qmp},server,nowait`], qmp);
    const h = await harness();
    const r = (await attach(h, { pid: q.pid })) as { name: string; uuid: string; state: string; notes: string[] };
    expect(r).toMatchObject({ name: `pid-${q.pid}`, state: "running" });
    expect(r.notes.some((n) => n.includes("all zeros"))).toBe(true);
    expect(r.notes.some((n) => n.includes("-net nic"))).toBe(true);
    const { xml } = (await h.dispatcher.dispatch("domain.dumpxml", { domain: r.name }, CALLER)) as { xml: string };
    expect(xml).toContain(`<source file='${disk}'/>`);
    expect(xml).toContain("<target dev='hda' bus='ide'/>");
    expect(xml).toContain(`<graphics type='vnc' port='${5900 + display}' autoport='no' listen='127.0.0.1'`);
    const info = (await h.dispatcher.dispatch("domain.info", { domain: r.name }, CALLER)) as Record<string, unknown>;
    expect(info).toMatchObject({ tainted: true, state: "running", max_memory_kib: 65536 });
    expect(info["cpu_time_ns"]).toBeGreaterThan(0); // stats (metrics, SNMP) come from the attached process
    const sent = (await h.dispatcher.dispatch("domain.send_key", { domain: r.name, keys: ["KEY_A"] }, CALLER)) as { keys: unknown[] };
    expect(sent.keys).toHaveLength(1);
    const started = h.events.find((e) => e.name === "domain.lifecycle" && (e.payload as { name: string }).name === r.name);
    expect(started?.payload).toMatchObject({ event: "started", detail: "booted" });
    await h.dispatcher.dispatch("domain.destroy", { domain: r.name }, CALLER);
    expect(isAlive(q.pid!)).toBe(false);
    expect(h.store.findDomain(r.name)).toBeUndefined();
  });

  it("re-adopts an attached guest after an agent restart and keeps it tainted", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const qmp = join(dir, "modern.qmp");
    const q = await startQemu(modernArgs(qmp), qmp);
    const agentDir = join(dir, "agent");
    const a = await makeQemuHarness({ dir: agentDir });
    await attach(a, { pid: q.pid });
    await a.driver.close();
    const b = await harness(agentDir);
    expect(b.store.getDomain(UUID)).toMatchObject({ name: "hand", tainted: true, persistent: false, pid: q.pid, state: "paused" });
    await b.driver.destroyDomain(UUID);
    expect(isAlive(q.pid!)).toBe(false);
  });

  it("drops the transient guest with stopped/crashed when its QEMU is killed behind the agent's back", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const qmp = join(dir, "modern.qmp");
    const q = await startQemu(modernArgs(qmp), qmp);
    const h = await harness();
    await attach(h, { pid: q.pid });
    const stopped = h.bus.waitFor("domain.lifecycle", (p) => p.uuid === UUID && p.event === "stopped", 3000);
    q.kill("SIGKILL");
    expect((await stopped).payload).toMatchObject({ detail: "crashed" });
    expect(h.store.getDomain(UUID)).toBeUndefined();
  });

  it("refuses a pid that is already managed with operation_invalid", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const qmp = join(dir, "modern.qmp");
    const q = await startQemu(modernArgs(qmp), qmp);
    const h = await harness();
    await attach(h, { pid: q.pid });
    const e = await failure(h, { pid: q.pid });
    expect(e.code).toBe("operation_invalid");
    expect(e.message).toContain("already managed");
  });

  it("refuses a QEMU without any monitor socket", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const q = await startQemu(["-machine", "pc", "-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none", "-S"]);
    const h = await harness();
    const e = await failure(h, { pid: q.pid });
    expect(e.code).toBe("operation_invalid");
    expect(e.message).toContain("no monitor socket");
  });

  it("refuses a QEMU whose only monitor is on TCP", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const port = await freePort();
    const q = await startQemu(["-machine", "pc", "-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none", "-S",
      "-qmp", `tcp:127.0.0.1:${port},server=on,wait=off`]);
    const h = await harness();
    const e = await failure(h, { pid: q.pid });
    expect(e.code).toBe("no_support");
    expect(e.message).toContain("only a Unix-socket monitor can be attached");
  });

  it("refuses a process that is not QEMU with invalid_arg", async () => {
    const c = spawn("sleep", ["100"], { stdio: "ignore" });
    children.push(c);
    const h = await harness();
    const e = await failure(h, { pid: c.pid });
    expect(e.code).toBe("invalid_arg");
    expect(e.message).toContain(`pid ${c.pid} is not a QEMU process`);
  });

  it("times out with a clear error while another client holds the QMP socket", async () => {
    dir = mkdtempSync(join(tmpdir(), "vb-attach-"));
    const qmp = join(dir, "modern.qmp");
    const q = await startQemu(modernArgs(qmp), qmp);
    // A client QEMU has taken on: it got the greeting. A connection still in the listen backlog
    // would not hold the monitor yet, and with QEMU's backlog of 1 the agent's own connect could
    // then be refused instead of waiting (seen once on a loaded machine).
    const holder = await connectUnix(qmp);
    await new Promise<void>((resolve, reject) => {
      holder.once("data", (d: Buffer) => (d.toString().includes('"QMP"') ? resolve() : reject(new Error(`not a QMP greeting: ${d.toString()}`))));
      holder.once("error", reject);
    });
    try {
      const h = await harness();
      const t0 = Date.now();
      const e = await failure(h, { pid: q.pid, timeout_ms: 500 });
      expect(e.code).toBe("operation_timeout");
      expect(e.message).toContain("another client");
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      holder.destroy();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** True once a unix socket accepts connections (the probe is closed at once). */
async function accepts(path: string): Promise<boolean> {
  try {
    (await connectUnix(path)).destroy();
    return true;
  } catch {
    return false;
  }
}

async function connectUnix(path: string): Promise<import("node:net").Socket> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}
