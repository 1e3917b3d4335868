/**
 * Issue #2 benchmark: start of a diskless guest, command → running reply, in one run:
 *  - raw: spawn qemu-system-x86_64 with the agent's own argv (-S, monitor fd) → first QMP reply;
 *  - virtbus: domain.start through dispatch() on the QEMU driver (spawn, QMP, vCPU query, cont, status file);
 *  - libvirt: `virsh start` with libvirtd 9 on the same XML (when libvirt is installed);
 * and the agent's RSS with 50 running guests (agent process, real QEMU).
 */
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeQemu } from "../../agent/drivers/qemu/caps.js";
import { buildCommand } from "../../agent/drivers/qemu/command.js";
import * as domainXml from "../../agent/model/domain-xml.js";
import { startAgentProcess } from "../helpers/agent-process.js";
import { makeQemuHarness } from "../helpers/qemu-harness.js";
import { emit, listenAt, RawQmp, round, summarise } from "./lib.js";
import { ensureLibvirtd, libvirtMissing, prepareKvmDevice, stopLibvirtd, virsh } from "./libvirt.js";

const QEMU = "/usr/bin/qemu-system-x86_64";
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 15);
const RSS_GUESTS = Number(process.env["BENCH_RSS_GUESTS"] ?? 50);

function guestXml(name: string, type = "qemu"): string {
  return `<domain type='${type}'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features></domain>`;
}

async function rawStart(dir: string): Promise<number> {
  const caps = await probeQemu(QEMU);
  const def = { ...domainXml.parse(guestXml("raw")), uuid: "6c9c2a7e-0c1b-4d39-9a1e-3d1e1b0c0001" };
  const { argv } = buildCommand({ ...def, os: { ...def.os, machine: "pc-i440fx-7.2" } }, caps, { monitorFd: 3, runDir: dir, tapFds: {} });
  const path = join(dir, "raw.qmp");
  const server = await listenAt(path);
  const t0 = performance.now();
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const cp = spawn(QEMU, argv, { stdio: ["ignore", "ignore", "ignore", fd] });
  server.close();
  (await RawQmp.open(path)).close();
  const ms = performance.now() - t0;
  cp.kill("SIGKILL");
  await new Promise((r) => cp.once("exit", r));
  return ms;
}

/**
 * Raw and virtbus starts taking turns, round by round, so a slow stretch of this shared
 * machine hits both alike (measured one phase after the other, the ratio swung from 1.21
 * to 1.41 between two runs of the same code).
 */
async function rawAndAgentStarts(dir: string): Promise<{ raw: number[]; agent: number[] }> {
  const h = await makeQemuHarness();
  const caller = { user: "local", via: "cli" } as const;
  const out = { raw: [] as number[], agent: [] as number[] };
  try {
    await h.dispatcher.dispatch("domain.define", { xml: guestXml("bench-start") }, caller);
    for (let i = 0; i < ROUNDS; i++) {
      out.raw.push(await rawStart(dir));
      const t0 = performance.now();
      await h.dispatcher.dispatch("domain.start", { domain: "bench-start" }, caller);
      out.agent.push(performance.now() - t0);
      await h.dispatcher.dispatch("domain.destroy", { domain: "bench-start" }, caller);
    }
  } finally {
    await h.cleanup();
  }
  return out;
}

/**
 * libvirt's own API time (virDomainCreate → return), through Debian's python3-libvirt so the
 * number is not dominated by virsh's process start-up; `virsh start` is measured too.
 */
const LIBVIRT_PY = `
import json, sys, time, libvirt
conn = libvirt.open("qemu:///system")
dom = conn.defineXML(open(sys.argv[1]).read())
out = []
try:
    for _ in range(int(sys.argv[2])):
        t0 = time.perf_counter(); dom.create(); out.append((time.perf_counter() - t0) * 1000); dom.destroy()
finally:
    dom.undefine()
print(json.dumps(out))
`;

async function libvirtStarts(dir: string): Promise<{ api: number[]; virsh: number[]; note?: string } | string> {
  const missing = libvirtMissing();
  if (missing) return missing;
  const note = prepareKvmDevice();
  const started = ensureLibvirtd();
  const xmlPath = join(dir, "lv.xml");
  writeFileSync(xmlPath, guestXml("vb-bench-libvirt"));
  try {
    const api = JSON.parse(execFileSync("/usr/bin/python3", ["-c", LIBVIRT_PY, xmlPath, String(ROUNDS)], { encoding: "utf8" })) as number[];
    const viaVirsh: number[] = [];
    virsh(["define", xmlPath]);
    try {
      for (let i = 0; i < Math.min(ROUNDS, 5); i++) {
        const t0 = performance.now();
        virsh(["start", "vb-bench-libvirt"]);
        viaVirsh.push(performance.now() - t0);
        virsh(["destroy", "vb-bench-libvirt"]);
      }
    } finally {
      virsh(["undefine", "vb-bench-libvirt"]);
    }
    return note === undefined ? { api, virsh: viaVirsh } : { api, virsh: viaVirsh, note };
  } finally {
    if (started) stopLibvirtd();
  }
}

async function agentRss(): Promise<{ guests: number; rss_mb: number }> {
  // the compiled agent, as operators run it (npm run bench builds dist/ first)
  const agent = await startAgentProcess({ hypervisor: { driver: "qemu" }, log_level: "warn" }, undefined, { compiled: true });
  try {
    for (let i = 0; i < RSS_GUESTS; i++) {
      const file = join(agent.dir, `g${i}.xml`);
      writeFileSync(file, guestXml(`rss-${i}`));
      await agent.cli(["define", file]);
      const r = await agent.cli(["start", `rss-${i}`]);
      if (r.exitCode !== 0) throw new Error(`start rss-${i}: ${r.stderr}`);
    }
    const status = readFileSync(`/proc/${agent.proc.pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    for (let i = 0; i < RSS_GUESTS; i++) await agent.cli(["destroy", `rss-${i}`]);
    return { guests: RSS_GUESTS, rss_mb: round(kb / 1024, 1) };
  } finally {
    await agent.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), "vb-bench-start-"));
try {
  const { raw, agent } = await rawAndAgentStarts(dir);
  const libvirt = await libvirtStarts(dir);
  const rss = await agentRss();
  const r = summarise(raw);
  const a = summarise(agent);
  const l = typeof libvirt === "object" ? summarise(libvirt.api) : undefined;
  emit("start", {
    rounds: ROUNDS,
    raw_qemu_ms: r,
    virtbus_ms: a,
    libvirt_ms: l ?? libvirt,
    virsh_start_ms: typeof libvirt === "object" ? summarise(libvirt.virsh) : undefined,
    libvirt_note: typeof libvirt === "object" ? libvirt.note : undefined,
    ratio_vs_raw_p50: round(a.p50 / r.p50),
    ratio_vs_libvirt_p50: l ? round(a.p50 / l.p50) : undefined,
    rss,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
