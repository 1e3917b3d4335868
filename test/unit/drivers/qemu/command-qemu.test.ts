/**
 * Runs the real qemu-system-x86_64 (TCG) with argv from the golden cases and checks QEMU
 * accepts it: the first QMP command reply arrives on the monitor fd we passed in.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { buildCommand } from "../../../../agent/drivers/qemu/command.js";
import { probeQemu } from "../../../../agent/drivers/qemu/caps.js";
import type { DomainDef } from "../../../../agent/model/domain-def.js";
import { parse } from "../../../../agent/model/domain-xml.js";
import { ARGV_DIR } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "virtbus-argv-"));
let child: ChildProcess | undefined;
let server: Server | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const gone = new Promise((r) => child?.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  }
  child = undefined;
  if (server?.listening) server.close();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadCase(name: string): DomainDef {
  return parse(readFileSync(join(ARGV_DIR, `${name}.xml`), "utf8"));
}

/** Sends `commands` one after another (the greeting counts as reply 0), skipping events. */
function qmpSession(path: string, commands: string[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const replies: unknown[] = [];
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("error", reject);
    sock.on("data", (d: string) => {
      buf += d;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        if ("event" in msg) continue;
        replies.push(msg);
        const next = commands[replies.length - 1];
        if (next === undefined) {
          sock.end();
          return resolve(replies);
        }
        sock.write(`${JSON.stringify({ execute: next })}\n`);
      }
    });
  });
}

async function runQemu(def: DomainDef, secretFile?: string): Promise<{ replies: unknown[]; stderr: () => string }> {
  const caps = await probeQemu("qemu-system-x86_64").catch((e: unknown) => {
    throw new Error(`qemu-system-x86_64 is required (Debian package qemu-system-x86): ${String(e)}`);
  });
  // Listen on a temp name and rename: libuv unlinks the path it listened on when the server
  // closes, and the server must close right after the spawn or Node would accept our own
  // connection instead of QEMU.
  const monPath = join(dir, `${def.name}.qmp`);
  const tmpPath = `${monPath}.tmp`;
  server = createServer();
  await new Promise<void>((r) => server?.listen(tmpPath, r));
  renameSync(tmpPath, monPath);
  const monFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const secretFd = secretFile === undefined ? undefined : openSync(secretFile, "r");
  const ctx = { monitorFd: 3, runDir: dir, tapFds: {}, graphicsSecretFd: secretFd === undefined ? undefined : 4 };
  const cmd = buildCommand(def, caps, ctx);
  let stderr = "";
  child = spawn(cmd.binary, cmd.argv, { stdio: ["ignore", "ignore", "pipe", monFd, ...(secretFd === undefined ? [] : [secretFd])] });
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise((r) => child?.once("spawn", r));
  server.close();
  if (secretFd !== undefined) closeSync(secretFd);
  const exited = new Promise<never>((_, rej) => child?.once("exit", (c) => rej(new Error(`QEMU exited ${c}: ${stderr}`))));
  const replies = await Promise.race([qmpSession(monPath, ["qmp_capabilities", "query-vnc", "query-status"]), exited]);
  return { replies, stderr: () => stderr };
}

describe("real QEMU accepts the built argv", () => {
  it("starts the minimal diskless guest paused and answers qmp_capabilities", async () => {
    const { replies } = await runQemu(loadCase("minimal-diskless"));
    expect(replies[1]).toEqual({ return: {} });
    expect(replies[3]).toMatchObject({ return: { status: "prelaunch", running: false } });
  });

  it("opens a qcow2 made by qemu-img through the -blockdev pair", async () => {
    const img = join(dir, "disk,1.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "16M"]);
    const def = loadCase("virtio-disk-qcow2-cache-none");
    def.devices.disks = def.devices.disks.slice(0, 1).map((d) => ({ ...d, source: img, driver: { name: "qemu", type: "qcow2" } }));
    const { replies } = await runQemu(def);
    expect(replies[1]).toEqual({ return: {} });
  });

  it("reads the VNC password from the secret fd and turns on VNC auth", async () => {
    const secret = join(dir, "vnc.secret");
    writeFileSync(secret, "s3cr3t-pw", { mode: 0o600 });
    const def = loadCase("vnc-password");
    def.devices.graphics = def.devices.graphics.map((g) => ({ ...g, autoport: true, port: -1 }));
    const { replies } = await runQemu(def, secret);
    expect(replies[1]).toEqual({ return: {} });
    expect(replies[2]).toMatchObject({ return: { enabled: true, auth: "vnc", host: "127.0.0.1" } });
  });
});
