/**
 * Cache banks from /sys/devices/system/cpu/cpuN/cache/indexM, as libvirt reports them:
 * level 3 and up only (L1/L2 are per core and would only repeat the topology), one bank per
 * (level, type, id), online CPUs only (offline CPUs expose no cache directory), and a bank
 * without an `id` file skipped.
 */
import { formatCpuList, type CacheBank, type CacheType } from "../../model/capabilities.js";
import { listNumbered, parseCpuList, readInt, readText } from "./sysfs.js";
import { readOnlineCpus } from "./topology.js";

const MIN_LEVEL = 3;

const KERNEL_TYPES: Readonly<Record<string, CacheType>> = { Unified: "both", Data: "data", Instruction: "instruction" };

/** "32768K" / "8M" / "512" (bytes) → KiB. */
export function parseCacheSize(text: string): number | undefined {
  const m = /^(\d+)([KMG]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return { "": n / 1024, K: n, M: n * 1024, G: n * 1024 * 1024 }[m[2] as "" | "K" | "M" | "G"];
}

async function readBank(root: string, dir: string): Promise<CacheBank | undefined> {
  // Level first: most indexes are L1/L2, and a many-CPU host has thousands of them.
  const level = await readInt(root, `${dir}/level`);
  if (level === undefined || level < MIN_LEVEL) return undefined;
  const [id, type, size, shared] = await Promise.all([
    readInt(root, `${dir}/id`),
    readText(root, `${dir}/type`),
    readText(root, `${dir}/size`),
    readText(root, `${dir}/shared_cpu_list`),
  ]);
  if (id === undefined || type === undefined || size === undefined || shared === undefined) return undefined;
  const bankType = KERNEL_TYPES[type];
  const sizeKib = parseCacheSize(size);
  if (bankType === undefined || sizeKib === undefined) return undefined;
  return { id, level, type: bankType, sizeKib, cpus: formatCpuList(parseCpuList(shared)) };
}

/** Distinct L3+ cache banks, sorted by level, type and id. */
export async function readCacheBanks(root: string): Promise<CacheBank[]> {
  const banks = new Map<string, CacheBank>();
  for (const cpu of await readOnlineCpus(root)) {
    const base = `sys/devices/system/cpu/cpu${cpu}/cache`;
    for (const index of await listNumbered(root, base, "index")) {
      const bank = await readBank(root, `${base}/index${index}`);
      if (bank) banks.set(`${bank.level}/${bank.type}/${bank.id}`, bank);
    }
  }
  return [...banks.values()].sort((a, b) => a.level - b.level || a.type.localeCompare(b.type) || a.id - b.id);
}
