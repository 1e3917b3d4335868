/**
 * Issue #6 benchmark: /metrics scrape latency with BENCH_GUESTS (default 50) running guests
 * defined from the same XML, under the virtbus agent and under libvirtd with Debian's
 * prometheus-libvirt-exporter, each with every guest answering and with one guest's QEMU
 * frozen by SIGSTOP. The two sides run one after the other (2 cores): agent side up,
 * measured and torn down before the libvirt side starts.
 *
 * Env: BENCH_GUESTS (50), BENCH_SCRAPES (30 per case), BENCH_AGENT_FROZEN_SCRAPES (30),
 * BENCH_LIBVIRT_FROZEN_SCRAPES (3: each may take up to the 60 s client timeout),
 * BENCH_SIDES ("agent_default,agent,libvirt": the agent with its default stats config, which
 * serves the latest background round; the agent forced fresh, collecting on every scrape like
 * the exporter; the exporter), BENCH_DISK (1: each guest gets its own 1 MiB raw virtio disk;
 * 0: diskless). The disk matters: for a diskless guest the libvirt exporter never reaches
 * QEMU's monitor (balloon and CPU come from events and /proc), so a frozen QEMU cannot stall
 * it; with a disk, virDomainBlockStats does, as it would for any real guest.
 */
import {
  closeSync,
  mkdtempSync,
  openSync,
  rmSync,
  chmodSync,
  ftruncateSync,
} from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { emit, round } from "./lib.js";
import {
  AGENT_STATS,
  AGENT_STATS_DEFAULT,
  runAgentSide,
  type AgentSide,
  type SideOptions,
} from "./scrape-agent.js";
import {
  checkLibvirtTools,
  runLibvirtSide,
  type LibvirtSide,
} from "./scrape-libvirt.js";

const GUESTS = intEnv("BENCH_GUESTS", 50);
const SCRAPES = intEnv("BENCH_SCRAPES", 30);
const AGENT_FROZEN = intEnv("BENCH_AGENT_FROZEN_SCRAPES", 30);
const LIBVIRT_FROZEN = intEnv("BENCH_LIBVIRT_FROZEN_SCRAPES", 3);
const SIDES = (
  process.env["BENCH_SIDES"] ?? "agent_default,agent,libvirt"
).split(",");
/** Default mode: wait out one background round (interval + deadline) before each case. */
const DEFAULT_SETTLE_MS =
  AGENT_STATS_DEFAULT.interval_ms + AGENT_STATS_DEFAULT.deadline_ms + 500;
const DISK = intEnv("BENCH_DISK", 1, 0) === 1;
const WARMUP = 3;
const LIBVIRT_TIMEOUT_MS = 60_000;

function intEnv(name: string, dflt: number, min = 1): number {
  const raw = process.env[name];
  const n = raw === undefined ? dflt : Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > 500)
    throw new Error(`${name} must be an integer in ${min}..500, got ${raw}`);
  return n;
}

/** Holds the disk images; 0755 so libvirt's qemu user can reach the files it is given. */
const imageDir = mkdtempSync(join(tmpdir(), "vb-bench-scrape-"));
chmodSync(imageDir, 0o755);

/** The one XML both sides define each guest from (only the name and the disk file differ). */
function guestXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>${DISK ? diskXml(name) : ""}</domain>`;
}

function diskXml(name: string): string {
  const file = join(imageDir, `${name}.img`);
  const fd = openSync(file, "w", 0o644);
  ftruncateSync(fd, 1 << 20);
  closeSync(fd);
  return `<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${file}'/><target dev='vda' bus='virtio'/></disk></devices>`;
}

/** Cleanup steps, run newest first, on success, failure and SIGINT/SIGTERM alike. */
const cleanups: (() => Promise<void>)[] = [];

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const step = cleanups.pop()!;
    await step().catch((err: unknown) =>
      process.stderr.write(
        `scrape bench: cleanup step failed: ${String(err)}\n`,
      ),
    );
  }
}

function onSignal(sig: NodeJS.Signals): void {
  process.stderr.write(`scrape bench: ${sig}, cleaning up\n`);
  void runCleanups().finally(() => process.exit(130));
}

function sideOptions(frozenScrapes: number): SideOptions {
  return {
    guests: GUESTS,
    scrapes: SCRAPES,
    frozenScrapes,
    warmup: WARMUP,
    xml: guestXml,
    onCleanup: (s) => cleanups.push(s),
  };
}

async function side<T>(name: string, run: () => Promise<T>): Promise<T> {
  const mark = cleanups.length;
  process.stderr.write(
    `scrape bench: ${name} side, ${GUESTS} guests, load ${loadavg()[0]?.toFixed(2)}\n`,
  );
  try {
    return await run();
  } finally {
    while (cleanups.length > mark)
      await cleanups.pop()!().catch((err: unknown) =>
        process.stderr.write(`scrape bench: cleanup: ${String(err)}\n`),
      );
  }
}

const ratio = (x: number | undefined, y: number | undefined) =>
  x && y ? round(y / x, 1) : null;

/** The headline numbers the renderer needs, computed once here. `a` is the forced-fresh agent. */
function compare(
  a: AgentSide | undefined,
  l: LibvirtSide | undefined,
  d: AgentSide | undefined,
): Record<string, unknown> {
  return {
    speedup_p50: ratio(a?.normal.latency_ms.p50, l?.normal.latency_ms.p50),
    speedup_p99: ratio(a?.normal.latency_ms.p99, l?.normal.latency_ms.p99),
    frozen_speedup_p50: ratio(
      a?.frozen.latency_ms.p50,
      l?.frozen.latency_ms.p50,
    ),
    speedup_p50_default: ratio(d?.normal.latency_ms.p50, l?.normal.latency_ms.p50),
    speedup_p99_default: ratio(d?.normal.latency_ms.p99, l?.normal.latency_ms.p99),
    frozen_speedup_p50_default: ratio(
      d?.frozen.latency_ms.p50,
      l?.frozen.latency_ms.p50,
    ),
    target_speedup: 5,
    meets_speedup_target:
      a && l ? l.normal.latency_ms.p50 / a.normal.latency_ms.p50 >= 5 : null,
    meets_speedup_target_default:
      d && l ? l.normal.latency_ms.p50 / d.normal.latency_ms.p50 >= 5 : null,
    agent_frozen_max_ms: a?.frozen.max_ms ?? null,
    agent_frozen_within_deadline: a ? frozenOk(a) : null,
    agent_frozen_stats_up_0: a ? a.frozen_check.stats_up_last === 0 : null,
    agent_default_frozen_max_ms: d?.frozen.max_ms ?? null,
    agent_default_frozen_within_deadline: d ? frozenOk(d) : null,
    agent_default_frozen_stats_up_0: d
      ? d.frozen_check.stats_up_last === 0
      : null,
    libvirt_frozen_max_ms: l?.frozen.max_ms ?? null,
    libvirt_frozen_timeouts: l?.frozen.timeouts ?? null,
    libvirt_frozen_stalls: l?.frozen.stalls ?? null,
  };
}

function frozenOk(a: AgentSide): boolean {
  return a.frozen.max_ms <= a.config.deadline_target_ms && a.frozen.non_200 === 0;
}

process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
const load0 = loadavg();
const sampleXml = guestXml("NAME")
  .replace(/\s+/g, " ")
  .replaceAll(imageDir, "DIR");
let agent: AgentSide | undefined;
let agentDefault: AgentSide | undefined;
let libvirt: LibvirtSide | undefined;
try {
  if (SIDES.includes("libvirt")) await checkLibvirtTools();
  if (SIDES.includes("agent_default"))
    agentDefault = await side("agent (default stats config)", () =>
      runAgentSide(sideOptions(AGENT_FROZEN), AGENT_STATS_DEFAULT, DEFAULT_SETTLE_MS),
    );
  if (SIDES.includes("agent"))
    agent = await side("agent (forced fresh)", () =>
      runAgentSide(sideOptions(AGENT_FROZEN), AGENT_STATS),
    );
  if (SIDES.includes("libvirt"))
    libvirt = await side("libvirt", () =>
      runLibvirtSide(sideOptions(LIBVIRT_FROZEN), LIBVIRT_TIMEOUT_MS),
    );
} finally {
  await runCleanups();
  rmSync(imageDir, { recursive: true, force: true });
}
emit("scrape", {
  guests: GUESTS,
  scrapes_per_case: SCRAPES,
  warmup_scrapes: WARMUP,
  disk: DISK,
  guest_xml: sampleXml,
  machine: {
    cpus: cpus().length,
    mem_gb: round(totalmem() / 2 ** 30, 1),
    load_avg_start: load0.map((x) => round(x, 2)),
    load_avg_end: loadavg().map((x) => round(x, 2)),
  },
  summary: compare(agent, libvirt, agentDefault),
  agent: agent ?? null,
  agent_default: agentDefault ?? null,
  libvirt: libvirt ?? null,
});
