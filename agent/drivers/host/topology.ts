/**
 * CPU topology and NUMA cells from /sys/devices/system/{cpu,node}. Without a node
 * directory (a kernel built without NUMA) the host is one cell holding every online CPU,
 * as libvirt reports it.
 */
import { type CellCpu, type CellPages, type CpuTopology, type NumaCell } from "../../model/capabilities.js";
import { listDir, listNumbered, parseCpuList, readInt, readText } from "./sysfs.js";

const CPU_DIR = "sys/devices/system/cpu";
const NODE_DIR = "sys/devices/system/node";
const BASE_PAGE_KIB = 4;

/** The online CPUs (cpu/online, else every cpuN directory). */
export async function readOnlineCpus(root: string): Promise<number[]> {
  const online = await readText(root, `${CPU_DIR}/online`);
  return online === undefined ? listNumbered(root, CPU_DIR, "cpu") : parseCpuList(online);
}

/** One CPU's place in the topology; ids the kernel does not expose default to 0 (dies) or the cpu id. */
export async function readCellCpu(root: string, id: number): Promise<CellCpu> {
  const t = `${CPU_DIR}/cpu${id}/topology`;
  const [socketId, dieId, coreId, siblings] = await Promise.all([
    readInt(root, `${t}/physical_package_id`),
    readInt(root, `${t}/die_id`),
    readInt(root, `${t}/core_id`),
    readText(root, `${t}/thread_siblings_list`),
  ]);
  return { id, socketId: socketId ?? 0, dieId: dieId ?? 0, coreId: coreId ?? id, siblings: siblings ?? String(id) };
}

/** Hugepage pool sizes in KiB, ascending, from the entry names of `dir` ("hugepages-2048kB"). */
export async function readHugepageSizes(root: string, dir = "sys/kernel/mm/hugepages"): Promise<number[]> {
  return parseHugepageDirs(await listDir(root, dir));
}

export function parseHugepageDirs(names: readonly string[]): number[] {
  return names
    .map((n) => /^hugepages-(\d+)kB$/.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** "Node 0 MemTotal:  4941600 kB" lines (node meminfo) or "MemTotal: ... kB" (/proc/meminfo). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(?:Node \d+ )?([A-Za-z_()]+):\s+(\d+)/.exec(line.trim());
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function readPages(root: string, hpDir: string, meminfo: Map<string, number>): Promise<CellPages[]> {
  const sizes = await readHugepageSizes(root, hpDir);
  const huge = await Promise.all(
    sizes.map(async (sizeKib) => ({
      sizeKib,
      count: (await readInt(root, `${hpDir}/hugepages-${sizeKib}kB/nr_hugepages`)) ?? 0,
      free: (await readInt(root, `${hpDir}/hugepages-${sizeKib}kB/free_hugepages`)) ?? 0,
    })),
  );
  // libvirt's count of base pages is the memory not reserved for hugepage pools.
  const reserved = huge.reduce((sum, p) => sum + p.sizeKib * p.count, 0);
  const total = meminfo.get("MemTotal") ?? 0;
  const base = { sizeKib: BASE_PAGE_KIB, count: Math.max(0, Math.floor((total - reserved) / BASE_PAGE_KIB)), free: Math.floor((meminfo.get("MemFree") ?? 0) / BASE_PAGE_KIB) };
  return [base, ...huge];
}

function parseDistances(text: string | undefined, nodes: readonly number[]): NumaCell["distances"] {
  if (text === undefined) return [];
  const values = text.split(/\s+/).filter((v) => /^\d+$/.test(v)).map(Number);
  if (values.length !== nodes.length) return [];
  return nodes.map((id, i) => ({ id, value: values[i]! }));
}

async function readNode(root: string, id: number, nodes: readonly number[], online: ReadonlySet<number>): Promise<NumaCell> {
  const dir = `${NODE_DIR}/node${id}`;
  const [cpulist, meminfoText, distance] = await Promise.all([
    readText(root, `${dir}/cpulist`),
    readText(root, `${dir}/meminfo`),
    readText(root, `${dir}/distance`),
  ]);
  const meminfo = parseMeminfo(meminfoText ?? "");
  const cpuIds = parseCpuList(cpulist ?? "").filter((c) => online.has(c));
  return {
    id,
    memoryKib: meminfo.get("MemTotal") ?? 0,
    pages: await readPages(root, `${dir}/hugepages`, meminfo),
    distances: parseDistances(distance, nodes),
    cpus: await Promise.all(cpuIds.map((c) => readCellCpu(root, c))),
  };
}

/** NUMA cells with memory, page pools, distances and CPUs. */
export async function readNumaCells(root: string): Promise<NumaCell[]> {
  const online = await readOnlineCpus(root);
  const onlineSet = new Set(online);
  const nodeText = await readText(root, `${NODE_DIR}/online`);
  const nodes = nodeText === undefined ? await listNumbered(root, NODE_DIR, "node") : parseCpuList(nodeText);
  if (nodes.length > 0) return Promise.all(nodes.map((n) => readNode(root, n, nodes, onlineSet)));
  const meminfo = parseMeminfo((await readText(root, "proc/meminfo")) ?? "");
  return [{
    id: 0,
    memoryKib: meminfo.get("MemTotal") ?? 0,
    pages: await readPages(root, "sys/kernel/mm/hugepages", meminfo),
    distances: [],
    cpus: await Promise.all(online.map((c) => readCellCpu(root, c))),
  }];
}

function maxCount<T>(groups: Iterable<T[]>, key: (x: T) => string): number {
  let best = 0;
  for (const g of groups) best = Math.max(best, new Set(g.map(key)).size);
  return best;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return [...m.values()];
}

/**
 * libvirt's nodeinfo topology: sockets PER NUMA NODE (not in total), dies per socket,
 * cores per die and threads per core, each the maximum seen.
 */
export function summariseTopology(cells: readonly NumaCell[]): CpuTopology {
  const all = cells.flatMap((c) => c.cpus);
  if (all.length === 0) return { sockets: 1, dies: 1, cores: 1, threads: 1 };
  const sockets = maxCount(cells.map((c) => c.cpus), (x) => String(x.socketId));
  const dies = maxCount(groupBy(all, (x) => String(x.socketId)), (x) => String(x.dieId));
  const cores = maxCount(groupBy(all, (x) => `${x.socketId}/${x.dieId}`), (x) => String(x.coreId));
  const threads = maxCount(groupBy(all, (x) => `${x.socketId}/${x.dieId}/${x.coreId}`), (x) => String(x.id));
  return { sockets: Math.max(1, sockets), dies: Math.max(1, dies), cores: Math.max(1, cores), threads: Math.max(1, threads) };
}
