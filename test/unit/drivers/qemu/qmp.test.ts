import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QmpClient, type QmpEvent } from "../../../../agent/drivers/qemu/qmp.js";
import { AgentError } from "../../../../agent/model/errors.js";

const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "" }, capabilities: ["oob"] } };

type Cmd = { execute: string; arguments?: Record<string, unknown>; id?: string };

/** A fake QMP server: `script` decides what to write back for each command. */
function fakeServer(path: string, script: (cmd: Cmd, sock: Socket) => void, greeting: string = JSON.stringify(GREETING) + "\r\n"): Promise<Server> {
  const srv = createServer((sock) => {
    sock.setEncoding("utf8");
    sock.write(greeting);
    let buf = "";
    sock.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as Cmd;
        buf = buf.slice(nl + 1);
        if (cmd.execute === "qmp_capabilities") sock.write(JSON.stringify({ return: {}, id: cmd.id }) + "\r\n");
        else script(cmd, sock);
      }
    });
    sock.on("error", () => undefined);
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

describe("QmpClient against a fake QMP server", () => {
  let dir: string;
  let server: Server | undefined;
  let client: QmpClient | undefined;
  const sockPath = () => join(dir, "qmp.sock");

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "vb-qmp-"));
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates capabilities and exposes the greeting's QEMU version", async () => {
    server = await fakeServer(sockPath(), () => undefined);
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    expect(client.greeting?.version.qemu).toEqual({ major: 7, minor: 2, micro: 0 });
  });

  it("correlates concurrent replies that arrive out of order by id", async () => {
    const held: Array<{ cmd: Cmd; sock: Socket }> = [];
    server = await fakeServer(sockPath(), (cmd, sock) => {
      held.push({ cmd, sock });
      if (held.length === 2) {
        for (const h of [...held].reverse()) h.sock.write(JSON.stringify({ return: { echo: h.cmd.arguments?.n }, id: h.cmd.id }) + "\n");
      }
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    const [a, b] = await Promise.all([client.execute("echo", { n: 1 }), client.execute("echo", { n: 2 })]);
    expect(a).toEqual({ echo: 1 });
    expect(b).toEqual({ echo: 2 });
    expect(held[0]?.cmd.id).not.toEqual(held[1]?.cmd.id);
  });

  it("reassembles a reply split across chunks and several messages in one chunk", async () => {
    server = await fakeServer(sockPath(), (cmd, sock) => {
      const ev = JSON.stringify({ event: "STOP", data: {}, timestamp: { seconds: 10, microseconds: 5000 } });
      const reply = JSON.stringify({ return: { status: "paused" }, id: cmd.id });
      const all = `${ev}\r\n${reply}\r\n`;
      sock.write(all.slice(0, 7));
      setTimeout(() => sock.write(all.slice(7, 40)), 10);
      setTimeout(() => sock.write(all.slice(40)), 20);
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    const events: QmpEvent[] = [];
    client.onEvent((e) => events.push(e));
    await expect(client.execute("query-status")).resolves.toEqual({ status: "paused" });
    expect(events).toEqual([{ event: "STOP", data: {}, timeMs: 10_005 }]);
  });

  it("turns a QMP error into operation_failed carrying QEMU's description", async () => {
    server = await fakeServer(sockPath(), (cmd, sock) => {
      sock.write(JSON.stringify({ error: { class: "GenericError", desc: "Invalid parameter 'x'" }, id: cmd.id }) + "\n");
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    const err = await client.execute("bad").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("operation_failed");
    expect((err as AgentError).message).toContain("Invalid parameter 'x'");
  });

  it("times out a command with no reply as operation_timeout and keeps the connection usable", async () => {
    server = await fakeServer(sockPath(), (cmd, sock) => {
      if (cmd.execute === "ok") sock.write(JSON.stringify({ return: 42, id: cmd.id }) + "\n");
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    const err = await client.execute("hang", undefined, 50).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_timeout");
    await expect(client.execute("ok")).resolves.toBe(42);
  });

  it("keeps a timed-out command counted as busy until its late reply arrives, and never hands that reply to a later command", async () => {
    let late: { id?: string; sock: Socket } | undefined;
    server = await fakeServer(sockPath(), (cmd, sock) => {
      if (cmd.execute === "slow") late = { id: cmd.id, sock };
      else sock.write(JSON.stringify({ return: `answer to ${cmd.execute}`, id: cmd.id }) + "\n");
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    expect(client.busy).toBe(false);
    await expect(client.execute("slow", undefined, 30)).rejects.toMatchObject({ code: "operation_timeout" });
    expect(client.busy).toBe(true);
    expect(client.outstanding).toEqual({ pending: 0, timedOut: 1 });
    const next = client.execute("next");
    late!.sock.write(JSON.stringify({ return: "late answer to slow", id: late!.id }) + "\n");
    await expect(next).resolves.toBe("answer to next");
    expect(client.busy).toBe(false);
    expect(client.outstanding).toEqual({ pending: 0, timedOut: 0 });
  });

  it("rejects pending commands with operation_failed when the server hangs up", async () => {
    server = await fakeServer(sockPath(), (_cmd, sock) => sock.destroy());
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    let closedCalled = false;
    client.onClose(() => (closedCalled = true));
    const err = await client.execute("quit").catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_failed");
    expect((err as AgentError).message).toContain("closed");
    expect(closedCalled).toBe(true);
    expect(client.closed).toBe(true);
    expect(client.closedLocally).toBe(false);
    await expect(client.execute("later")).rejects.toMatchObject({ code: "operation_failed" });
  });

  it("marks a close() of ours as local so a detach is not taken for QEMU's exit", async () => {
    server = await fakeServer(sockPath(), () => undefined);
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    const pending = client.execute("never-answered");
    client.close();
    await expect(pending).rejects.toMatchObject({ code: "operation_failed" });
    expect(client.closedLocally).toBe(true);
  });

  it("fails connect with operation_timeout when no greeting arrives", async () => {
    server = await fakeServer(sockPath(), () => undefined, "");
    const err = await QmpClient.connect(sockPath(), { timeoutMs: 100 }).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_timeout");
  });

  it("fails connect with operation_failed when nothing listens on the path", async () => {
    const err = await QmpClient.connect(join(dir, "absent.sock"), { timeoutMs: 500 }).catch((e: unknown) => e);
    expect((err as AgentError).code).toBe("operation_failed");
  });

  it("skips an unparsable line and still delivers the next reply", async () => {
    server = await fakeServer(sockPath(), (cmd, sock) => {
      sock.write("{not json\r\n" + JSON.stringify({ return: "fine", id: cmd.id }) + "\r\n");
    });
    client = await QmpClient.connect(sockPath(), { timeoutMs: 1000 });
    await expect(client.execute("x")).resolves.toBe("fine");
  });
});
