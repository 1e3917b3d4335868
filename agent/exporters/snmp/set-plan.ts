/**
 * SNMP SET semantics shared by both transports. planSet() is the test phase: it checks
 * every varbind against the store and the LIBVIRT-MIB rules and returns the commands to
 * run, without side effects. commitSet() is the commit phase: it runs each command once
 * through dispatch() with the SNMP user as caller (authorised and audited there) and maps
 * an AgentError to an error-status with ERROR_TABLE. npm net-snmp runs SET handlers in
 * both phases with no undo (DESIGN.md §5), which is why neither transport uses them.
 */
import type { Dispatcher } from "../../control/dispatch.js";
import type { Caller } from "../../control/types.js";
import type { StateStore } from "../../core/state-store.js";
import { ERROR_TABLE, type SnmpErrorStatus } from "../../model/errors.js";
import { isActive } from "../../model/state.js";
import { COL, GUEST_ENTRY, guestStateNumber, ROW_STATUS } from "./mib-libvirt.js";
import { VM_BULK_ENABLED, VM_PER_VM_ENABLED } from "./mib-vm.js";
import { compareOid, indexToUuid, parseOid, startsWith, type Oid } from "./oid.js";
import { TAG } from "./value.js";

export const ERR = {
  noError: 0, tooBig: 1, genErr: 5, noAccess: 6, wrongType: 7, wrongValue: 10, noCreation: 11,
  inconsistentValue: 12, commitFailed: 14, notWritable: 17, inconsistentName: 18,
} as const;

export interface SetVarbind {
  oid: string;
  type: number;
  value: unknown;
}

export type SetAction =
  | { kind: "dispatch"; op: string; args: Record<string, unknown>; index: number }
  | { kind: "flag"; which: "perVm" | "bulk"; value: boolean; index: number };

export type SetPlan = { ok: true; actions: SetAction[] } | { ok: false; errorStatus: number; errorIndex: number };

interface RowWrite {
  uuid: string;
  state?: { value: number; index: number };
  rowStatus?: { value: number; index: number };
}

const fail = (errorStatus: number, errorIndex: number): SetPlan => ({ ok: false, errorStatus, errorIndex });

/** The test phase. `isWritable(op)` says whether the command table lets SNMP run `op`. */
export function planSet(varbinds: SetVarbind[], store: StateStore, isWritable: (op: string) => boolean): SetPlan {
  const rows = new Map<string, RowWrite>();
  const actions: SetAction[] = [];
  for (let i = 0; i < varbinds.length; i++) {
    const vb = varbinds[i] as SetVarbind;
    const index = i + 1;
    let oid: Oid;
    try {
      oid = parseOid(vb.oid);
    } catch {
      return fail(ERR.notWritable, index);
    }
    const flag = compareOid(oid, VM_PER_VM_ENABLED) === 0 ? "perVm" : compareOid(oid, VM_BULK_ENABLED) === 0 ? "bulk" : undefined;
    if (flag) {
      if (vb.type !== TAG.Integer) return fail(ERR.wrongType, index);
      if (vb.value !== 1 && vb.value !== 2) return fail(ERR.wrongValue, index);
      actions.push({ kind: "flag", which: flag, value: vb.value === 1, index });
      continue;
    }
    const col = startsWith(oid, GUEST_ENTRY) ? oid[GUEST_ENTRY.length] : undefined;
    if (col !== COL.state && col !== COL.rowStatus) return fail(ERR.notWritable, index);
    if (vb.type !== TAG.Integer || typeof vb.value !== "number") return fail(ERR.wrongType, index);
    const uuid = indexToUuid(oid.slice(GUEST_ENTRY.length + 1));
    if (!uuid) return fail(ERR.inconsistentName, index);
    const row = rows.get(uuid) ?? { uuid };
    if (col === COL.state) row.state = { value: vb.value, index };
    else row.rowStatus = { value: vb.value, index };
    rows.set(uuid, row);
  }
  for (const row of rows.values()) {
    const r = planRow(row, store);
    if (!r.ok) return r;
    if (!isWritable(r.action.op)) return fail(ERR.notWritable, r.action.index);
    if (r.action.op !== "noop") actions.push(r.action);
  }
  return { ok: true, actions };
}

type RowPlan = { ok: true; action: SetAction & { kind: "dispatch" } } | { ok: false; errorStatus: number; errorIndex: number };

function planRow(row: RowWrite, store: StateStore): RowPlan {
  const first = Math.min(row.state?.index ?? Infinity, row.rowStatus?.index ?? Infinity);
  const view = store.getDomain(row.uuid);
  if (!view) return { ok: false, errorStatus: ERR.inconsistentName, errorIndex: first };
  const act = (op: string, index: number, extra: Record<string, unknown> = {}): RowPlan => ({
    ok: true,
    action: { kind: "dispatch", op, args: { domain: view.uuid, ...extra }, index },
  });
  const bad = (status: number, index: number): RowPlan => ({ ok: false, errorStatus: status, errorIndex: index });
  const active = isActive(view.state);
  if (row.rowStatus) {
    const { value, index } = row.rowStatus;
    if (value < 1 || value > 6) return bad(ERR.wrongValue, index);
    if (value === ROW_STATUS.createAndGo) {
      const want = row.state?.value ?? 1;
      if (want !== 1 && want !== 3) return bad(ERR.inconsistentValue, row.state?.index ?? index);
      if (active) return bad(ERR.inconsistentValue, index);
      return act("domain.start", index, want === 3 ? { paused: true } : {});
    }
    if (value === ROW_STATUS.destroy && active && !row.state) return act("domain.destroy", index);
    return bad(ERR.inconsistentValue, index);
  }
  const { value, index } = row.state as { value: number; index: number };
  if (value < 1 || value > 6) return bad(ERR.wrongValue, index);
  const cur = guestStateNumber(view.state);
  if (cur === value) return act("noop", index);
  if (view.state === "running" && value === 3) return act("domain.suspend", index);
  if (view.state === "paused" && value === 1) return act("domain.resume", index);
  if (view.state === "running" && value === 4) return act("domain.shutdown", index);
  return bad(ERR.inconsistentValue, index);
}

const STATUS_NUMBER: Record<SnmpErrorStatus, number> = {
  wrongValue: ERR.wrongValue,
  inconsistentValue: ERR.inconsistentValue,
  inconsistentName: ERR.inconsistentName,
  noAccess: ERR.noAccess,
  commitFailed: ERR.commitFailed,
  genErr: ERR.genErr,
};

export interface CommitContext {
  dispatcher: Dispatcher;
  caller: Caller;
  setFlag(which: "perVm" | "bulk", value: boolean): void;
  /** How long one command may take before it is not started (ms). */
  deadlineMs: number;
}

/** The commit phase: runs each action once, in order; stops at the first failure. */
export async function commitSet(plan: SetPlan & { ok: true }, ctx: CommitContext): Promise<{ errorStatus: number; errorIndex: number }> {
  for (const a of plan.actions) {
    if (a.kind === "flag") {
      ctx.setFlag(a.which, a.value);
      continue;
    }
    const out = await ctx.dispatcher.run(a.op, a.args, ctx.caller, { deadline: Date.now() + ctx.deadlineMs });
    if (!out.ok && out.error) return { errorStatus: STATUS_NUMBER[ERROR_TABLE[out.error.code].snmp], errorIndex: a.index };
  }
  return { errorStatus: ERR.noError, errorIndex: 0 };
}

/** Whether the command table has `op` and lets an SNMP SET run it ("noop" always may). */
export function snmpWritable(dispatcher: Dispatcher, op: string): boolean {
  if (op === "noop") return true;
  return Object.hasOwn(dispatcher.commands, op) && dispatcher.commands[op]?.snmpWritable === true;
}
