/**
 * vmIndex allocation that survives agent restarts (RFC 7666 asks for stability across
 * re-initialisation): a uuid -> index map in <stateDir>/snmp-vm-index.json, written
 * atomically. Indexes are never reused while the file exists.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../core/atomic-file.js";
import { AgentError } from "../../model/errors.js";

interface IndexFile {
  v: 1;
  next: number;
  map: Record<string, number>;
}

export class VmIndexMap {
  private map = new Map<string, number>();
  private nextIndex = 1;
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, "snmp-vm-index.json");
  }

  /** @throws AgentError config_unsupported when the file exists but is not ours. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch {
      return; // first start: nothing assigned yet
    }
    const data = JSON.parse(text) as Partial<IndexFile>;
    if (data.v !== 1 || typeof data.map !== "object" || data.map === null) {
      throw new AgentError("config_unsupported", `${this.path}: not a vmIndex map`, { component: "snmp" });
    }
    for (const [uuid, idx] of Object.entries(data.map)) if (Number.isInteger(idx) && idx > 0) this.map.set(uuid, idx);
    this.nextIndex = Math.max(data.next ?? 1, ...[...this.map.values()].map((i) => i + 1));
  }

  /** The guest's index, allocating (and scheduling a save) on first sight. */
  indexOf(uuid: string): number {
    let idx = this.map.get(uuid);
    if (idx === undefined) {
      idx = this.nextIndex++;
      this.map.set(uuid, idx);
      this.dirty = true;
    }
    return idx;
  }

  peek(uuid: string): number | undefined {
    return this.map.get(uuid);
  }

  /** Writes the map when it changed; concurrent calls are serialised. */
  flush(): Promise<void> {
    if (!this.dirty) return this.saving;
    this.dirty = false;
    const body: IndexFile = { v: 1, next: this.nextIndex, map: Object.fromEntries(this.map) };
    this.saving = this.saving.then(() => writeFileAtomic(this.path, JSON.stringify(body), { mode: 0o644 }));
    return this.saving;
  }
}
