/**
 * Persistent definitions of the QEMU driver: <stateDir>/qemu/<uuid>.xml (the secure
 * format, mode 0600: it may hold a VNC password) and an empty <uuid>.autostart marker.
 */
import { access, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { removeFileDurable, writeFileAtomic } from "../../core/atomic-file.js";
import type { DomainDef } from "../../model/domain-def.js";
import * as domainXml from "../../model/domain-xml.js";

export interface PersistedDomain {
  def: DomainDef;
  autostart: boolean;
}

export class DefinitionStore {
  constructor(
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {}

  get dir(): string {
    return join(this.stateDir, "qemu");
  }

  async ensureDirs(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await mkdir(join(this.stateDir, "log"), { recursive: true, mode: 0o700 });
  }

  xmlPath(uuid: string): string {
    return join(this.dir, `${uuid}.xml`);
  }

  autostartPath(uuid: string): string {
    return join(this.dir, `${uuid}.autostart`);
  }

  logPath(name: string): string {
    return join(this.stateDir, "log", `${name}.log`);
  }

  async save(def: DomainDef): Promise<void> {
    await writeFileAtomic(this.xmlPath(def.uuid), domainXml.format(def, { secure: true }), { mode: 0o600 });
  }

  async remove(uuid: string): Promise<void> {
    await removeFileDurable(this.autostartPath(uuid));
    await removeFileDurable(this.xmlPath(uuid));
  }

  async setAutostart(uuid: string, on: boolean): Promise<void> {
    if (on) await writeFileAtomic(this.autostartPath(uuid), "", { mode: 0o600 });
    else await removeFileDurable(this.autostartPath(uuid));
  }

  /** Loads every definition; a file that no longer parses is logged and skipped, never deleted. */
  async loadAll(): Promise<PersistedDomain[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: PersistedDomain[] = [];
    for (const n of names.filter((x) => x.endsWith(".xml") && !x.startsWith("."))) {
      const path = join(this.dir, n);
      try {
        const def = domainXml.parse(await readFile(path, "utf8"));
        if (`${def.uuid}.xml` !== n) throw new Error(`uuid ${def.uuid} does not match the file name`);
        out.push({ def, autostart: await exists(this.autostartPath(def.uuid)) });
      } catch (err) {
        this.log.error({ err, path }, "persisted domain definition skipped");
      }
    }
    return out;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
