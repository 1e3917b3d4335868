/**
 * Re-adoption at open(): every status file names a QEMU an earlier agent started. A live
 * one (same pid AND same start time, QMP answers) is supervised again without a restart;
 * a dead one is recorded as shut off; a malformed file is removed.
 */
import { removeFileDurable } from "../../core/atomic-file.js";
import { mapRunStatus } from "./lifecycle.js";
import { adoptQemu } from "./process.js";
import { scanStatus, type GuestStatus } from "./status.js";
import type { GuestSupervisor } from "./supervisor.js";

export async function readoptAll(sup: GuestSupervisor): Promise<void> {
  const { valid, invalid } = await scanStatus(sup.o.runDir);
  for (const path of invalid) {
    sup.o.log.warn({ path }, "malformed status file removed");
    await removeFileDurable(path).catch(() => undefined);
  }
  for (const st of valid) await readoptOne(sup, st);
}

async function readoptOne(sup: GuestSupervisor, st: GuestStatus): Promise<void> {
  const log = sup.o.log.child({ domain: st.uuid });
  let proc;
  try {
    proc = await adoptQemu({ pid: st.pid, startTime: st.startTime, monitorPath: st.monitorPath, qmpTimeoutMs: sup.o.qmpTimeoutMs, log });
  } catch (err) {
    // Alive but deaf: never kill a guest we cannot talk to; an operator must look.
    log.error({ err, pid: st.pid }, "guest process is alive but its QMP socket does not answer; left alone");
    return;
  }
  if (!proc) {
    log.warn({ pid: st.pid }, "guest died while the agent was down");
    await sup.foundDead(st);
    return;
  }
  try {
    const qs = await proc.qmp.execute<{ status: string }>("query-status");
    const now = mapRunStatus(qs.status, { state: st.state, reason: st.reason });
    sup.adopted(proc, { ...st, state: now.state, reason: now.reason });
    log.info({ pid: st.pid, state: now.state }, "re-adopted running guest");
  } catch (err) {
    log.error({ err, pid: st.pid }, "re-adoption failed after connecting; left alone");
    proc.qmp.close();
  }
}
