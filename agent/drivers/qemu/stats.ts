/**
 * Fresh statistics of a running guest: CPU from /proc, block and balloon from QMP, taps
 * from /sys. All sources run in parallel and race the caller's deadline.
 */
import { open, readFile, type FileHandle } from "node:fs/promises";
import type { BlockStats, DomainStats, InterfaceStats, VcpuStats } from "../../core/state-store.js";
import type { DomainDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import type { QmpClient } from "./qmp.js";

/** Linux's USER_HZ: /proc times are in 1/100 s on every architecture we run on. */
const TICK_NS = 10_000_000;

export interface StatsSource {
  uuid: string;
  pid: number;
  vcpuThreads: number[];
  taps: string[];
  def: DomainDef;
  qmp: QmpClient;
  /** QOM path of the virtio-balloon device when stats polling is on. */
  balloonPath?: string;
}

/** virtio-balloon guest-stats names → libvirt's memory stat tags (values in KiB). */
const BALLOON_TAGS: Record<string, string> = {
  "stat-swap-in": "swap_in",
  "stat-swap-out": "swap_out",
  "stat-major-faults": "major_fault",
  "stat-minor-faults": "minor_fault",
  "stat-free-memory": "unused",
  "stat-total-memory": "available",
  "stat-available-memory": "usable",
  "stat-disk-caches": "disk_caches",
  "stat-htlb-pgalloc": "hugetlb_pgalloc",
  "stat-htlb-pgfail": "hugetlb_pgfail",
};
const COUNT_TAGS = new Set(["major_fault", "minor_fault", "hugetlb_pgalloc", "hugetlb_pgfail"]);

async function readGuestStats(qmp: QmpClient, path: string, timeoutMs: number): Promise<Record<string, number>> {
  const r = await qmp
    .execute<{ stats: Record<string, number>; "last-update": number }>("qom-get", { path, property: "guest-stats" }, timeoutMs)
    .catch(() => undefined);
  const out: Record<string, number> = {};
  if (!r || r["last-update"] === 0) return out;
  for (const [k, v] of Object.entries(r.stats)) {
    const tag = BALLOON_TAGS[k];
    // QEMU reports -1 for a stat the guest driver did not provide.
    if (tag === undefined || v < 0) continue;
    out[tag] = COUNT_TAGS.has(tag) ? v : Math.round(v / 1024);
  }
  out.last_update = r["last-update"];
  return out;
}

/**
 * Collects stats; settles by `deadlineMs` (wall clock) or throws operation_timeout. Fails at
 * once while a command sent to this QEMU earlier is still unanswered: QEMU answers in order,
 * so new commands would only queue behind it and cost the caller the whole deadline again.
 * @throws AgentError operation_timeout, operation_failed (QMP refused).
 */
export async function collectStats(src: StatsSource, deadlineMs: number): Promise<DomainStats> {
  if (src.qmp.busy) {
    const { timedOut } = src.qmp.outstanding;
    throw new AgentError("operation_timeout", `stats of domain ${src.uuid}: previous stats request still unanswered (${timedOut} QMP command(s))`, {
      component: "qemu",
      details: { unanswered: timedOut },
    });
  }
  const left = deadlineMs - Date.now();
  if (left <= 0) throw timeoutError(src.uuid);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(src.uuid)), left);
  });
  try {
    return await Promise.race([gather(src, left), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function gather(src: StatsSource, qmpTimeoutMs: number): Promise<DomainStats> {
  // Every QMP command is written before anything is awaited: one monitor round trip per guest.
  const qmpP = queryQmp(src, qmpTimeoutMs);
  const proc = procFilesOf(src.qmp);
  const [cpu, vcpus, rssKiB, interfaces, q] = await Promise.all([
    readCpu(proc, src.pid),
    Promise.all(src.vcpuThreads.map((tid, id) => readVcpu(proc, src.pid, tid, id))),
    readRssKiB(proc, src.pid),
    Promise.all(src.taps.map((t, i) => readTap(t, src.def.devices.interfaces[i]?.mac))),
    qmpP,
  ]);
  const memory: Record<string, number> = { ...q.guest };
  if (q.balloonBytes !== undefined) memory.actual_balloon = Math.round(q.balloonBytes / 1024);
  if (rssKiB !== undefined) memory.rss = rssKiB;
  return {
    uuid: src.uuid,
    collectedAt: Date.now(),
    cpuTimeNs: cpu.userNs + cpu.systemNs,
    userTimeNs: cpu.userNs,
    systemTimeNs: cpu.systemNs,
    vcpus,
    memory,
    blocks: mapBlocks(q.blocks, q.images, src.def),
    interfaces,
    qmpLatencyMs: q.latencyMs,
  };
}

interface QmpPart {
  blocks: QmpBlockStats[];
  /** query-block: the images' sizes (query-blockstats has none). */
  images: QmpBlockInfo[];
  balloonBytes: number | undefined;
  guest: Record<string, number>;
  latencyMs: number;
}

/**
 * Sends only what this guest needs: block stats when it has disks (their images' sizes once
 * a minute, imageSizes()), guest memory stats when
 * the balloon polls them, the balloon size once (then from BALLOON_CHANGE events). When
 * none of those applies, `query-status` is sent anyway: a round must reach QEMU, or a
 * frozen QEMU would look healthy from /proc alone.
 */
async function queryQmp(src: StatsSource, timeoutMs: number): Promise<QmpPart> {
  const t0 = performance.now();
  const { qmp, def } = src;
  const sent: Promise<unknown>[] = [];
  const disks = def.devices.disks.length > 0;
  const blocksP = disks ? qmp.execute<QmpBlockStats[]>("query-blockstats", undefined, timeoutMs) : undefined;
  if (blocksP) sent.push(blocksP);
  const sizes = disks ? imageSizes(qmp, timeoutMs) : undefined;
  if (sizes?.queried) sent.push(sizes.value);
  const imagesP = sizes?.value;
  const balloonP = hasBalloon(def) ? balloonBytes(qmp, timeoutMs) : undefined;
  if (balloonP?.queried) sent.push(balloonP.value);
  const guestP = src.balloonPath ? readGuestStats(qmp, src.balloonPath, timeoutMs) : undefined;
  if (guestP) sent.push(guestP);
  if (sent.length === 0) sent.push(qmp.execute("query-status", undefined, timeoutMs));
  const [blocks, images, balloon, guest] = await Promise.all([blocksP ?? [], imagesP ?? [], balloonP?.value, guestP ?? {}, ...sent]);
  return { blocks, images, balloonBytes: balloon, guest, latencyMs: performance.now() - t0 };
}

/** Image sizes change rarely (a resize, the guest filling a sparse image): asked this often. */
export const IMAGE_SIZES_MAX_AGE_MS = 60_000;

/** query-block's answer per QMP connection, with when it was asked. */
const imageCache = new WeakMap<QmpClient, { at: number; images: QmpBlockInfo[] }>();

/**
 * The images' capacity and allocation (query-block; query-blockstats has none), asked on a
 * guest's first round and then at most every IMAGE_SIZES_MAX_AGE_MS, not on every scrape.
 */
function imageSizes(qmp: QmpClient, timeoutMs: number): { value: Promise<QmpBlockInfo[]>; queried: boolean } {
  const known = imageCache.get(qmp);
  if (known && performance.now() - known.at < IMAGE_SIZES_MAX_AGE_MS) return { value: Promise.resolve(known.images), queried: false };
  const at = performance.now();
  const value = qmp.execute<QmpBlockInfo[]>("query-block", undefined, timeoutMs).then(
    (images) => {
      imageCache.set(qmp, { at, images });
      return images;
    },
    () => known?.images ?? [],
  );
  return { value, queried: true };
}

function hasBalloon(def: DomainDef): boolean {
  return def.devices.memballoon !== undefined && def.devices.memballoon.model !== "none";
}

/** The balloon size (bytes) per QMP connection, kept current by QEMU's BALLOON_CHANGE events. */
const balloonCache = new WeakMap<QmpClient, { bytes?: number }>();

function balloonBytes(qmp: QmpClient, timeoutMs: number): { value: Promise<number | undefined>; queried: boolean } {
  const known = balloonCache.get(qmp);
  if (known?.bytes !== undefined) return { value: Promise.resolve(known.bytes), queried: false };
  const entry = known ?? { };
  if (!known) {
    balloonCache.set(qmp, entry);
    qmp.onEvent((ev) => {
      if (ev.event === "BALLOON_CHANGE" && typeof ev.data.actual === "number") entry.bytes = ev.data.actual;
    });
  }
  const value = qmp.execute<{ actual: number }>("query-balloon", undefined, timeoutMs).then(
    (r) => (entry.bytes ??= r.actual),
    () => undefined,
  );
  return { value, queried: true };
}

function timeoutError(uuid: string): AgentError {
  return new AgentError("operation_timeout", `stats of domain ${uuid} not collected before the deadline`, { component: "qemu" });
}

/** Fields after the ')' closing comm; index 0 is field 3 (state). */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/**
 * The /proc files of one QEMU, kept open for the life of its QMP connection: a pread at
 * offset 0 regenerates a procfs file, one thread-pool trip where readFile() needs five
 * (open, fstat, read, read, close) — at 50 guests that was most of a round's own cost.
 */
class ProcFiles {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private closed = false;

  async read(path: string): Promise<string> {
    let h = this.handles.get(path);
    if (!h) {
      h = open(path, "r");
      if (!this.closed) this.handles.set(path, h);
      h.catch(() => this.handles.delete(path));
    }
    const fh = await h;
    if (this.closed) void fh.close().catch(() => undefined);
    const buf = Buffer.allocUnsafe(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.toString("utf8", 0, bytesRead);
  }

  close(): void {
    this.closed = true;
    for (const h of this.handles.values()) void h.then((fh) => fh.close()).catch(() => undefined);
    this.handles.clear();
  }
}

const procFiles = new WeakMap<QmpClient, ProcFiles>();

/** One ProcFiles per QMP connection (so per QEMU process), closed when the connection ends. */
function procFilesOf(qmp: QmpClient): ProcFiles {
  let p = procFiles.get(qmp);
  if (!p) {
    const files = new ProcFiles();
    procFiles.set(qmp, files);
    qmp.onClose(() => files.close());
    p = files;
  }
  return p;
}

/** The user and system CPU time of a /proc/<pid>/stat text. */
export function procCpu(statText: string): { userNs: number; systemNs: number } {
  const f = statFields(statText);
  // utime and stime are fields 14 and 15.
  return { userNs: Number(f[11]) * TICK_NS, systemNs: Number(f[12]) * TICK_NS };
}

async function readCpu(proc: ProcFiles, pid: number): Promise<{ userNs: number; systemNs: number }> {
  return procCpu(await proc.read(`/proc/${pid}/stat`));
}

async function readVcpu(proc: ProcFiles, pid: number, tid: number, id: number): Promise<VcpuStats> {
  try {
    // schedstat: time on cpu (ns), time waiting on a runqueue (ns), timeslices.
    const [run, wait] = (await proc.read(`/proc/${pid}/task/${tid}/schedstat`)).trim().split(" ").map(Number);
    if (run !== undefined && Number.isFinite(run)) return { id, threadId: tid, state: 1, timeNs: run, waitNs: wait ?? 0 };
    // Without schedstats (CONFIG_SCHEDSTATS off) fall back to the thread's tick counts.
    const f = statFields(await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8"));
    return { id, threadId: tid, state: 1, timeNs: (Number(f[11]) + Number(f[12])) * TICK_NS, waitNs: 0 };
  } catch {
    return { id, threadId: tid, state: 0, timeNs: 0 };
  }
}

async function readRssKiB(proc: ProcFiles, pid: number): Promise<number | undefined> {
  const text = await proc.read(`/proc/${pid}/status`).catch(() => "");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function readTap(tap: string, mac: string | undefined): Promise<InterfaceStats> {
  const rd = async (n: string) => Number((await readFile(`/sys/class/net/${tap}/statistics/${n}`, "utf8").catch(() => "0")).trim());
  const [rxB, rxP, rxE, rxD, txB, txP, txE, txD] = await Promise.all(
    ["rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"].map(rd),
  );
  // The tap's counters are the host's view: what the host transmits, the guest receives.
  const s = { device: tap, rxBytes: txB!, rxPackets: txP!, rxErrs: txE!, rxDrop: txD!, txBytes: rxB!, txPackets: rxP!, txErrs: rxE!, txDrop: rxD! };
  return mac === undefined ? s : { ...s, mac };
}

/** The part of a query-block entry read here. */
interface QmpBlockInfo {
  device: string;
  qdev?: string;
  inserted?: { image?: { "virtual-size"?: number; "actual-size"?: number } };
}

interface QmpBlockStats {
  device: string;
  qdev?: string;
  node_name?: string;
  stats: {
    rd_operations: number;
    rd_bytes: number;
    wr_operations: number;
    wr_bytes: number;
    flush_operations: number;
    rd_total_time_ns: number;
    wr_total_time_ns: number;
    failed_rd_operations?: number;
    failed_wr_operations?: number;
    failed_flush_operations?: number;
  };
}

/** Names QMP's entries by the disk's target dev where the ids mention it. */
function mapBlocks(raw: QmpBlockStats[], images: QmpBlockInfo[], def: DomainDef): BlockStats[] {
  return raw.map((b) => {
    const image = images.find((i) => (b.qdev ? i.qdev === b.qdev : i.device === b.device))?.inserted?.image;
    const ids = `${b.device} ${b.qdev ?? ""} ${b.node_name ?? ""}`;
    const disk = def.devices.disks.find((d) => new RegExp(`\\b${d.target.dev}\\b`).test(ids));
    const s = b.stats;
    const out: BlockStats = {
      device: disk?.target.dev ?? (b.device || b.qdev || "unknown"),
      rdReqs: s.rd_operations,
      rdBytes: s.rd_bytes,
      wrReqs: s.wr_operations,
      wrBytes: s.wr_bytes,
      flushReqs: s.flush_operations,
      rdTotalTimeNs: s.rd_total_time_ns,
      wrTotalTimeNs: s.wr_total_time_ns,
      errors: (s.failed_rd_operations ?? 0) + (s.failed_wr_operations ?? 0) + (s.failed_flush_operations ?? 0),
    };
    // libvirt's capacity (the guest's disk size) and allocation (what the image holds on the host)
    if (image?.["virtual-size"] !== undefined) out.capacityBytes = image["virtual-size"];
    if (image?.["actual-size"] !== undefined) out.allocationBytes = image["actual-size"];
    return disk?.source === undefined ? out : { ...out, path: disk.source };
  });
}
