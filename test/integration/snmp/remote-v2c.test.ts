import { execa, type ResultPromise } from "execa";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "./tools.js";

const VM_NUMBER = "1.3.6.1.2.1.236.1.2.0";
const AGENT = fileURLToPath(new URL("./netns-agent.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));
const tag = `vbs${process.pid % 100000}`;
const NS_AGENT = `${tag}a`;
const NS_CLIENT = `${tag}c`;

async function ip(args: string[]): Promise<void> {
  const r = await execa(requireTool("ip"), args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr} (needs root)`);
}

/** Two namespaces joined by a veth pair: agent side 10.231.7.1, client side 10.231.7.2. */
async function makeNamespaces(): Promise<void> {
  await ip(["netns", "add", NS_AGENT]);
  await ip(["netns", "add", NS_CLIENT]);
  await ip(["link", "add", `${tag}x`, "netns", NS_AGENT, "type", "veth", "peer", "name", `${tag}y`, "netns", NS_CLIENT]);
  for (const [ns, dev, addr] of [[NS_AGENT, `${tag}x`, "10.231.7.1/30"], [NS_CLIENT, `${tag}y`, "10.231.7.2/30"]] as const) {
    await ip(["-n", ns, "addr", "add", addr, "dev", dev]);
    await ip(["-n", ns, "link", "set", dev, "up"]);
    await ip(["-n", ns, "link", "set", "lo", "up"]);
  }
}

/**
 * The agent runs as a child inside NS_AGENT (a process cannot serve from another namespace).
 * Wrapped in an object: an execa subprocess is a thenable, and returning it from an async
 * function would wait for the agent to exit.
 */
async function startAgent(allowRemote: boolean): Promise<{ child: ResultPromise }> {
  const child = execa(requireTool("ip"), ["netns", "exec", NS_AGENT, TSX, AGENT, "0.0.0.0", "1161", String(allowRemote)], { reject: false });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const t0 = Date.now();
  while (!out.includes("ready") && Date.now() - t0 < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  if (!out.includes("ready")) throw new Error(`agent in ${NS_AGENT} did not start: ${out}`);
  return { child };
}

async function snmpgetIn(ns: string, target: string): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const args = ["netns", "exec", ns, requireTool("snmpget"), "-m", "", "-M", "/nonexistent", "-On", "-Oqv", "-t", "1", "-r", "1", "-v2c", "-c", "public", target, VM_NUMBER];
  const r = await execa(requireTool("ip"), args, { reject: false, env: { MIBS: "", SNMPCONFPATH: "/nonexistent" } });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

describe("v2c from another host", () => {
  let agent: ResultPromise | undefined;

  beforeAll(makeNamespaces, 30_000);
  afterEach(async () => {
    agent?.kill("SIGTERM");
    await agent;
    agent = undefined;
  });
  afterAll(async () => {
    await execa("ip", ["netns", "del", NS_CLIENT], { reject: false });
    await execa("ip", ["netns", "del", NS_AGENT], { reject: false });
  });

  it("a community without allow_remote answers on the agent's loopback but not from another address", async () => {
    agent = (await startAgent(false)).child;
    const local = await snmpgetIn(NS_AGENT, "udp:127.0.0.1:1161");
    expect(local.exitCode, local.stderr).toBe(0);
    expect(local.stdout).toBe("1");
    const remote = await snmpgetIn(NS_CLIENT, "udp:10.231.7.1:1161");
    expect(remote.exitCode).not.toBe(0);
    expect(remote.stderr).toMatch(/Timeout/);
  }, 40_000);

  it("a community with allow_remote answers from another address", async () => {
    agent = (await startAgent(true)).child;
    const remote = await snmpgetIn(NS_CLIENT, "udp:10.231.7.1:1161");
    expect(remote.exitCode, remote.stderr).toBe(0);
    expect(remote.stdout).toBe("1");
  }, 40_000);
});
