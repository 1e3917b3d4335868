/**
 * The local control socket (mode 0660) the CLI talks to. Every request goes through
 * dispatch() as the caller "local" (authorised by the policy like any other caller);
 * access to the socket itself is controlled by its file mode and group.
 */
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createServer, type Server, type Socket } from "node:net";
import { execa } from "execa";
import type { Logger } from "pino";
import type { Component } from "../../core/component.js";
import type { Dispatcher } from "../../control/dispatch.js";
import type { EventBus } from "../../core/bus.js";
import { AgentError } from "../../model/errors.js";
import { LineSplitter, SUBSCRIBE_OP, type LocalReply, type LocalRequest } from "./protocol.js";

export interface SocketServerOptions {
  path: string;
  group?: string;
  dispatcher: Dispatcher;
  bus: EventBus;
  log: Logger;
}

export class LocalSocketServer implements Component {
  readonly name = "local-socket";
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private subscriberSeq = 0;

  constructor(private readonly opts: SocketServerOptions) {}

  async start(): Promise<void> {
    const { path } = this.opts;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await rm(path, { force: true }); // a stale socket from a killed agent
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o660);
    if (this.opts.group) await chown(path, process.getuid?.() ?? 0, await groupId(this.opts.group));
    this.server = server;
    this.opts.log.info({ path }, "control socket listening");
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.opts.bus.off(this.name);
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    sock.setEncoding("utf8");
    let owner: string | undefined;
    const splitter = new LineSplitter((line) => void this.handleLine(sock, line, (o) => (owner = o)));
    sock.on("data", (chunk: string) => {
      if (!splitter.push(chunk)) sock.destroy();
    });
    sock.on("error", () => sock.destroy());
    sock.on("close", () => {
      this.sockets.delete(sock);
      if (owner) this.opts.bus.off(owner);
    });
  }

  private async handleLine(sock: Socket, line: string, setOwner: (o: string) => void): Promise<void> {
    let req: LocalRequest;
    try {
      req = parseRequest(line);
    } catch (e) {
      write(sock, { id: 0, ok: false, error: (e as AgentError).toJSON() });
      return;
    }
    if (req.op === SUBSCRIBE_OP) {
      const owner = `${this.name}:sub:${++this.subscriberSeq}`;
      setOwner(owner);
      this.opts.bus.onAny(owner, (event) => write(sock, { event }));
      write(sock, { id: req.id, ok: true, result: { subscribed: true, epoch: this.opts.bus.epoch } });
      return;
    }
    const opts = req.deadline === undefined ? {} : { deadline: req.deadline };
    const out = await this.opts.dispatcher.run(req.op, req.args ?? {}, { user: "local", via: "cli" }, opts);
    const reply: LocalReply = out.ok ? { id: req.id, ok: true, result: out.result ?? null } : { id: req.id, ok: false, error: out.error!.toJSON() };
    write(sock, reply);
  }
}

function parseRequest(line: string): LocalRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AgentError("invalid_arg", "request is not valid JSON", { component: "control" });
  }
  const r = v as Partial<LocalRequest>;
  if (typeof v !== "object" || v === null || typeof r.id !== "number" || typeof r.op !== "string") {
    throw new AgentError("invalid_arg", "request must be {id: number, op: string, args?: object}", { component: "control" });
  }
  if (r.deadline !== undefined && typeof r.deadline !== "number") {
    throw new AgentError("invalid_arg", "deadline must be a number (ms since the epoch)", { component: "control" });
  }
  return r as LocalRequest;
}

function write(sock: Socket, frame: unknown): void {
  if (!sock.destroyed) sock.write(`${JSON.stringify(frame)}\n`);
}

async function groupId(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const { stdout } = await execa("getent", ["group", name], { reject: false });
  const gid = Number(stdout.split(":")[2]);
  if (!Number.isInteger(gid)) throw new AgentError("invalid_arg", `control.socket_group: no group "${name}"`, { component: "config" });
  return gid;
}
