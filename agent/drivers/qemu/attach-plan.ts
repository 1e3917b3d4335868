/**
 * Pure composition of the attach steps that need no process: command line → monitor to
 * connect to + definition; QMP facts → checked definition with its metadata note. The
 * golden tests run exactly this on captured /proc cmdlines and QMP replies.
 */
import { checkAgainstQmp, type CheckedDef, type QmpFacts } from "./attach-check.js";
import { buildCmdlineDef, cmdlineUuid, type CmdlineDef } from "./attach-def.js";
import { attachMetadata } from "./attach-metadata.js";
import { findMonitors, pickMonitor, tokenize, type MonitorSpec } from "./attach-opts.js";

export interface AttachPlan {
  monitor: MonitorSpec;
  cmd: CmdlineDef;
}

/**
 * @throws AgentError invalid_arg (malformed command line), operation_invalid / no_support
 *   (no usable monitor, see pickMonitor).
 */
export function planFromCmdline(pid: number, exe: string, argv: readonly string[], nameOverride?: string): AttachPlan {
  const options = tokenize(argv);
  const monitor = pickMonitor(pid, findMonitors(options));
  // No -uuid: left empty for the QMP check, which takes QEMU's or generates one.
  const cmd = buildCmdlineDef({ pid, exe, argv, options, nameOverride }, cmdlineUuid(options) ?? "");
  return { monitor, cmd };
}

/** The QMP-checked definition, with `<metadata>` naming the pid, the monitor and every note. */
export function finishPlan(pid: number, plan: AttachPlan, facts: QmpFacts, opts: { nameGiven: boolean; newUuid: () => string }): CheckedDef {
  const checked = checkAgainstQmp(plan.cmd, facts, opts);
  return { ...checked, def: { ...checked.def, metadata: attachMetadata(pid, plan.monitor.address, checked.notes) } };
}
