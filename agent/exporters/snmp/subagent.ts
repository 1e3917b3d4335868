/**
 * AgentX subagent (RFC 2741) of Net-SNMP's snmpd, which then supplies USM, VACM and the
 * trap sinks. npm net-snmp provides the AgentX framing (TCP only); requests are answered
 * from the same OidView as the standalone agent, not from its Mib. SETs: TestSet plans,
 * CommitSet runs the plan once through dispatch(); there is no undo (UndoSet reports
 * undoFailed). AgentX does not carry the SNMP user, so SETs run as `agentx.caller`.
 * The session is re-opened after snmpd restarts or drops it.
 */
import snmp, { type AgentXPduLike, type NsSubagent, type NsVarbind } from "net-snmp";
import type { Logger } from "pino";
import { AgentError } from "../../model/errors.js";
import { fixAgentxOctetStrings } from "./agentx-codec.js";
import { LIBVIRT_MIB } from "./mib-libvirt.js";
import type { MibSource } from "./mib-source.js";
import { VM_MIB } from "./mib-vm.js";
import { formatOid, parseOid } from "./oid.js";
import { answerGet, lookupToWire } from "./responder.js";
import type { SetPlan, SetVarbind } from "./set-plan.js";
import type { SnmpSettings } from "./settings.js";

export interface SubagentOptions {
  settings: SnmpSettings;
  source: MibSource;
  runSet: (vbs: SetVarbind[], user: string) => Promise<{ errorStatus: number; errorIndex: number }>;
  plan: (vbs: SetVarbind[]) => SetPlan;
  commit: (plan: SetPlan, user: string) => Promise<{ errorStatus: number; errorIndex: number }>;
  log: Logger;
}

const UNDO_FAILED = 15;
const AX = snmp.AgentXPduType as Record<string, number>;

export class Subagent {
  private sub?: NsSubagent;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly plans = new Map<number, SetPlan>();
  /** Resolves once a session is open (each reconnect replaces it). */
  ready: Promise<void> = Promise.resolve();
  connected = false;

  constructor(private readonly opts: SubagentOptions) {}

  /** Never fails on an absent master: snmpd may start after the agent, and is retried every reconnect_ms. */
  async start(): Promise<void> {
    fixAgentxOctetStrings();
    this.stopped = false;
    await this.connect().catch((err: unknown) => this.opts.log.warn({ err: String(err) }, "agentx master not reachable yet; retrying"));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const sub = this.sub;
    this.sub = undefined;
    sub?.removeAllListeners();
    sub?.socket?.destroy();
  }

  notify(trapOid: string, varbinds: NsVarbind[]): void {
    if (this.connected) this.sub?.notify(trapOid, varbinds);
  }

  /** Where snmpd's AgentX master is, for messages. */
  private get master(): string {
    const { host, port, socket } = this.opts.settings.agentx;
    return socket ?? `${host}:${port}`;
  }

  private connect(): Promise<void> {
    const { host, port, socket } = this.opts.settings.agentx;
    // npm net-snmp connects with net.Socket.connect(masterPort, master): a path in place of
    // the port is Node's connect(path) form, a unix socket (the host is then ignored).
    const sub = snmp.createSubagent({ master: host, masterPort: socket ?? port, timeout: 5, description: "virtbus LIBVIRT-MIB and VM-MIB" });
    this.sub = sub;
    this.install(sub);
    sub.on("error", (err) => this.opts.log.debug({ err: String(err) }, "agentx socket error"));
    sub.on("close", () => this.onClosed(sub));
    this.ready = new Promise((resolve, reject) => {
      // A refused or dropped connection never answers the Open: settle here (no-op once open).
      sub.on("close", () => reject(new AgentError("operation_failed", `agentx master ${this.master} closed the connection`, { component: "snmp" })));
      sub.open((err) => {
        if (err) return reject(new AgentError("operation_failed", `agentx open failed: ${String(err)}`, { component: "snmp" }));
        this.register(sub).then(resolve, reject);
      });
    });
    return this.ready;
  }

  private async register(sub: NsSubagent): Promise<void> {
    for (const root of [LIBVIRT_MIB, VM_MIB]) {
      await new Promise<void>((resolve, reject) => {
        const pdu = (snmp as unknown as { AgentXPdu: { createFromVariables(v: Record<string, unknown>): unknown } }).AgentXPdu.createFromVariables({
          pduType: AX["Register"], sessionID: sub.sessionID, rangeSubid: 0, timeout: 5, priority: 127, oid: formatOid(root),
        });
        (sub["sendPdu"] as (p: unknown, cb: (e: unknown, r?: { error?: number }) => void) => void).call(sub, pdu, (e, r) =>
          e || r?.error ? reject(new AgentError("operation_failed", `agentx register ${formatOid(root)} failed`, { component: "snmp" })) : resolve());
      });
    }
    this.connected = true;
    this.opts.log.info({ master: this.master }, "agentx session open");
  }

  private onClosed(sub: NsSubagent): void {
    if (sub !== this.sub) return;
    this.connected = false;
    if (this.stopped) return;
    this.opts.log.warn("agentx session lost; reconnecting");
    this.reconnectTimer = setTimeout(() => {
      if (this.stopped) return;
      this.connect().catch((err: unknown) => {
        this.opts.log.debug({ err: String(err) }, "agentx reconnect failed");
      });
    }, this.opts.settings.agentx.reconnect_ms);
  }

  /** Replaces the request handlers net-snmp would answer from its Mib. */
  private install(sub: NsSubagent): void {
    const reply = (pdu: AgentXPduLike, varbinds?: NsVarbind[], error = 0, index = 0): void => {
      const resp = pdu.getResponsePduForRequest();
      resp.error = error;
      resp.index = index;
      sub.sendResponse(resp, varbinds ?? []);
    };
    const ranges = (pdu: AgentXPduLike) => pdu.searchRangeList ?? [];
    sub["getRequest"] = (pdu: AgentXPduLike) => reply(pdu, answerGet(this.opts.source.view(), ranges(pdu).map((r) => r.start), "agentx"));
    sub["getNextRequest"] = (pdu: AgentXPduLike) => reply(pdu, this.nextIn(ranges(pdu)));
    sub["getBulkRequest"] = (pdu: AgentXPduLike) => reply(pdu, this.bulkIn(pdu));
    sub["testSet"] = (pdu: AgentXPduLike) => {
      const plan = this.opts.plan((pdu.varbinds ?? []) as SetVarbind[]);
      this.plans.set(pdu.transactionID, plan);
      reply(pdu, undefined, plan.ok ? 0 : plan.errorStatus, plan.ok ? 0 : plan.errorIndex);
    };
    sub["commitSet"] = (pdu: AgentXPduLike) => {
      const plan = this.plans.get(pdu.transactionID);
      if (!plan) return reply(pdu, undefined, 14, 1);
      void this.opts.commit(plan, this.opts.settings.agentx.caller).then((r) => reply(pdu, undefined, r.errorStatus, r.errorIndex));
    };
    sub["undoSet"] = (pdu: AgentXPduLike) => reply(pdu, undefined, UNDO_FAILED, 1);
    sub["cleanupSet"] = (pdu: AgentXPduLike) => void this.plans.delete(pdu.transactionID);
  }

  private nextIn(rs: { start: string; end: string }[]): NsVarbind[] {
    const view = this.opts.source.view();
    return rs.map((r) => lookupToWire(view.next(parseOid(r.start), r.end ? parseOid(r.end) : undefined), "agentx"));
  }

  /** RFC 2741 §7.2.3.3: non-repeaters once, then repeaters, each bounded by its range end. */
  private bulkIn(pdu: AgentXPduLike): NsVarbind[] {
    const rs = pdu.searchRangeList ?? [];
    const nr = Math.min(pdu.nonRepeaters ?? 0, rs.length);
    const out = this.nextIn(rs.slice(0, nr));
    const cursors = rs.slice(nr).map((r) => ({ ...r }));
    for (let i = 0; i < (pdu.maxRepetitions ?? 0) && cursors.length > 0; i++) {
      const row = this.nextIn(cursors);
      out.push(...row);
      row.forEach((vb, k) => ((cursors[k] as { start: string }).start = vb.oid));
      if (row.every((vb) => vb.type === 130)) break;
    }
    return out;
  }
}
