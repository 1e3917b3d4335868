/**
 * Crash-safe file replacement: write a temp file in the same directory, fsync it, rename
 * it over the target, then fsync the directory so the rename itself survives a power cut.
 * A reader therefore sees either the old content or the new one, never a torn file.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { AgentError } from "../model/errors.js";

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600: definitions may hold secrets). */
  mode?: number;
}

/**
 * Atomically replaces `path` with `data`.
 * @throws AgentError operation_failed when any step fails (the temp file is removed).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx", opts.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await syncDir(dir);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new AgentError("operation_failed", `cannot write ${path}: ${(err as Error).message}`, { component: "core", cause: err });
  }
}

/** Removes `path` (absent is fine) and makes the removal durable. */
export async function removeFileDurable(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
    await syncDir(dirname(path));
  } catch (err) {
    throw new AgentError("operation_failed", `cannot remove ${path}: ${(err as Error).message}`, { component: "core", cause: err });
  }
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
