import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetClient } from "../../../agent/exporters/amqp/client.js";
import { captureLogger, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

/** Runs rabbitmqctl (argument array, no shell), `stdin` fed to it; rejects with its stderr. */
function rabbitmqctl(args: string[], stdin = ""): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("rabbitmqctl", ["--quiet", ...args], { stdio: ["pipe", "ignore", "pipe"], timeout: 30_000 });
    let err = "";
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    p.on("error", (e: NodeJS.ErrnoException) => reject(new Error(e.code === "ENOENT" ? "rabbitmqctl not found: install Debian package rabbitmq-server" : e.message)));
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmqctl ${args[0]} failed (${code}): ${err}`))));
    p.stdin.end(stdin);
  });
}

/**
 * RabbitMQ's default password hash (rabbit_password_hashing_sha256): base64 of a 4-byte
 * salt followed by sha256(salt ++ password). Importing the user from a definitions file
 * with this hash keeps the password out of every process's argv, rabbitmqctl's included.
 */
function passwordHash(password: string): string {
  const salt = randomBytes(4);
  const digest = createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest();
  return Buffer.concat([salt, digest]).toString("base64");
}

describe("broker credentials from password_file", () => {
  const id = Math.random().toString(36).slice(2, 10);
  const user = `vbt-user-${id}`;
  const vhost = `vbt-vhost-${id}`;
  const password = randomBytes(18).toString("base64url");
  const dir = mkdtempSync(join(tmpdir(), "vbt-cred-"));
  const passwordFile = join(dir, "amqp.password");
  const url = `amqp://127.0.0.1:5672/${vhost}`;
  let agent: Agent | undefined;
  let client: FleetClient | undefined;

  beforeAll(async () => {
    await requireBroker();
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const defs = {
      users: [{ name: user, password_hash: passwordHash(password), hashing_algorithm: "rabbit_password_hashing_sha256", tags: "" }],
      vhosts: [{ name: vhost }],
      permissions: [{ user, vhost, configure: ".*", write: ".*", read: ".*" }],
    };
    // On stdin: the broker node cannot read our 0700 temp dir, and nothing lands on disk.
    await rabbitmqctl(["import_definitions", "--format", "json"], JSON.stringify(defs));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await agent?.exporter.stop();
    if (agent) removeDir(agent.stateDir);
    await rabbitmqctl(["delete_vhost", vhost]).catch(() => undefined);
    await rabbitmqctl(["delete_user", user]).catch(() => undefined);
    removeDir(dir);
  }, 60_000);

  it("an agent and a client authenticated from password files on a fresh vhost exchange a command, and the password never reaches a log line", async () => {
    const cap = captureLogger();
    agent = await startAgent({ prefix: uniquePrefix(), url, log: cap.log, policy: { roles: {}, users: { [user]: ["admin"] } }, cfg: { username: user, password_file: passwordFile } });
    await waitUntil(() => agent!.exporter.health().connected, 10_000, "the agent to connect with the file's password");
    client = await FleetClient.connect({ url, username: user, password_file: passwordFile, prefix: agent.exporter.names.cmd.replace(/\.cmd$/, ""), timeoutMs: 5000 });
    const dom = agent.h.store.listDomains()[0]!;
    const r = await client.call("h1", "domain.destroy", { domain: dom.name });
    expect(r.status).toBe("ok");
    expect(agent.h.store.getDomain(dom.uuid)!.state).toBe("shutoff");
    // audits are written in batches, at most AUDIT_DELAY_MS after the reply
    await waitUntil(() => agent!.h.events.some((e) => e.name === "command.audit"), 5000, "the command's audit");
    const audit = agent.h.events.find((e) => e.name === "command.audit");
    expect((audit?.payload as { caller?: string } | undefined)?.caller).toBe(user);
    expect(cap.lines.some((l) => l.includes("amqp connected") && l.includes(vhost))).toBe(true);
    expect(cap.lines.filter((l) => l.includes(password))).toEqual([]);
  });

  it("a wrong password in the file keeps the agent disconnected and out of the logs too", async () => {
    const wrong = randomBytes(18).toString("base64url");
    const wrongFile = join(dir, "wrong.password");
    writeFileSync(wrongFile, wrong, { mode: 0o600 });
    const cap = captureLogger();
    const a = await startAgent({ prefix: uniquePrefix(), url, log: cap.log, cfg: { username: user, password_file: wrongFile } });
    try {
      await waitUntil(() => cap.lines.some((l) => l.includes("amqp connect failed")), 10_000, "a failed login");
      expect(a.exporter.health().connected).toBe(false);
      expect(cap.lines.filter((l) => l.includes(wrong) || l.includes(password))).toEqual([]);
    } finally {
      await a.exporter.stop();
      removeDir(a.stateDir);
    }
  });
});
