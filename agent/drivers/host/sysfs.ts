/**
 * Small readers over a procfs/sysfs tree rooted at `root` ("/" on a live host, a captured
 * fixture directory in tests). A missing or unreadable file is `undefined`, never an
 * exception: capability probing is best-effort and reports what the kernel exposes.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** The file's text, trimmed; undefined when it cannot be read. */
export async function readText(root: string, path: string): Promise<string | undefined> {
  try {
    return (await readFile(join(root, path), "utf8")).trim();
  } catch {
    return undefined;
  }
}

/** The file's content as a decimal integer; undefined when missing or not a number. */
export async function readInt(root: string, path: string): Promise<number | undefined> {
  const t = await readText(root, path);
  if (t === undefined || !/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

/** Entry names of a directory (sorted); empty when it does not exist. */
export async function listDir(root: string, path: string): Promise<string[]> {
  try {
    return (await readdir(join(root, path))).sort();
  } catch {
    return [];
  }
}

/** Numeric suffixes of entries named `<prefix><n>` ("cpu12", "node1", "index3"), ascending. */
export async function listNumbered(root: string, path: string, prefix: string): Promise<number[]> {
  const re = new RegExp(`^${prefix}(\\d+)$`);
  return (await listDir(root, path))
    .map((n) => re.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Parses a kernel cpu list ("0-3,8,10-11"); an empty string is no cpus. Malformed parts
 * are skipped rather than trusted (a range is capped at 65536 entries).
 */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 65536) continue;
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}
