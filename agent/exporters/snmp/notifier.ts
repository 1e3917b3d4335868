/**
 * Notifications from domain.lifecycle events: libvirtGuestNotif and RFC 7666 per-VM
 * notifications (row-indexed varbinds), or one bulk notification per new state when more
 * than `bulk_threshold` guests change inside one window (storm control). Sent to the
 * configured sinks (v2c traps, v3 traps, informs retried with backoff by net-snmp) in
 * standalone mode, or handed to snmpd (which owns the sinks) in AgentX mode.
 */
import snmp, { type NsSession, type NsVarbind } from "net-snmp";
import type { Logger } from "pino";
import type { Services } from "../../control/types.js";
import type { DomainLifecycle } from "../../core/events.js";
import type { EngineState } from "./engine-state.js";
import { GUEST_NOTIF, guestNotifVarbinds } from "./mib-libvirt.js";
import type { MibSource } from "./mib-source.js";
import { operState, VM_AFFECTED, VM_NOTIFICATIONS, vmNotificationFor, vmNotifVarbinds } from "./mib-vm.js";
import type { Instance } from "./oid-view.js";
import { formatOid, type Oid } from "./oid.js";
import type { SnmpSettings } from "./settings.js";
import type { Subagent } from "./subagent.js";
import { str, toWire, type Transport } from "./value.js";
import type { VmIndexMap } from "./vm-index.js";

export interface NotifierOptions {
  settings: SnmpSettings;
  source: MibSource;
  vmIndex: VmIndexMap;
  services: Services;
  engine: EngineState;
  subagent?: Subagent;
  log: Logger;
}

interface Change {
  ev: DomainLifecycle;
  vmIndex: number;
  previousOper: number;
  removed: boolean;
}

const OWNER = "snmp-notifier";

type SinkSession = NsSession & { inform_: boolean; inflight_: number; sink_: string };

export class Notifier {
  private readonly sessions: SinkSession[] = [];
  /** Informs not sent because their sink already had max_inflight unanswered ones. */
  dropped = 0;
  private readonly lastOper = new Map<string, number>();
  private pending: Change[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: NotifierOptions) {}

  start(): void {
    for (const v of this.opts.services.store.listDomains()) this.lastOper.set(v.uuid, operState(v.state));
    if (!this.opts.subagent) for (const sink of this.opts.settings.notifications.sinks) this.openSession(sink);
    this.opts.services.bus.on(OWNER, "domain.lifecycle", (e) => this.onLifecycle(e.payload));
  }

  stop(): void {
    this.opts.services.bus.off(OWNER);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const s of this.sessions.splice(0)) s.close();
  }

  private openSession(sink: SnmpSettings["notifications"]["sinks"][number]): void {
    const n = this.opts.settings.notifications;
    const common = { port: sink.port, trapPort: sink.port, retries: n.retries, timeout: n.timeout_ms, backoff: 2 };
    let session: NsSession;
    if (sink.version === "3") {
      const u = this.opts.settings.users.find((x) => x.name === sink.user);
      if (!u) throw new Error(`snmp sink ${sink.host}: unknown user "${sink.user ?? ""}"`);
      const user = {
        name: u.name,
        level: snmp.SecurityLevel["authPriv"] as number,
        authProtocol: snmp.AuthProtocols[u.auth_protocol] as number,
        authKey: u.auth_key,
        privProtocol: snmp.PrivProtocols[u.priv_protocol] as number,
        privKey: u.priv_key,
      };
      session = snmp.createV3Session(sink.host, user, { ...common, engineID: this.opts.engine.engineId });
    } else {
      session = snmp.createSession(sink.host, sink.community ?? "public", { ...common, version: snmp.Version2c });
    }
    session.on("error", (err) => this.opts.log.warn({ err, sink: sink.host }, "snmp notification session error"));
    this.sessions.push(Object.assign(session, { inform_: sink.inform, inflight_: 0, sink_: `${sink.host}:${sink.port}` }));
  }

  private onLifecycle(ev: DomainLifecycle): void {
    const removed = ev.event === "undefined";
    const vmIndex = this.opts.vmIndex.peek(ev.uuid) ?? this.opts.vmIndex.indexOf(ev.uuid);
    const previousOper = this.lastOper.get(ev.uuid) ?? 1;
    if (removed) this.lastOper.delete(ev.uuid);
    else this.lastOper.set(ev.uuid, operState(ev.state));
    this.pending.push({ ev, vmIndex, previousOper, removed });
    this.timer ??= setTimeout(() => this.flush(), this.opts.settings.notifications.window_ms);
  }

  /** One window's changes: per-guest notifications, or bulk ones past the threshold. */
  private flush(): void {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    const n = this.opts.settings.notifications;
    const bulk = batch.length > n.bulk_threshold && this.opts.source.bulkNotifications;
    if (bulk) {
      this.sendBulk(batch);
      return;
    }
    for (const c of batch) {
      this.emit(GUEST_NOTIF, guestNotifVarbinds(c.ev.uuid, c.ev.name, c.ev.state, c.removed));
      const vmOid = vmNotificationFor(operState(c.ev.state), c.removed);
      if (vmOid && this.opts.source.perVmNotifications && vmOid.length > 0) {
        this.emit(vmOid, vmNotifVarbinds(c.vmIndex, c.ev.name, c.ev.uuid, c.previousOper));
      }
    }
  }

  private sendBulk(batch: Change[]): void {
    const groups = new Map<string, { oid: Oid; indexes: number[] }>();
    for (const c of batch) {
      const perVm = vmNotificationFor(operState(c.ev.state), c.removed);
      if (!perVm) continue;
      const oid = [...VM_NOTIFICATIONS, (perVm[perVm.length - 1] as number) + 10];
      const key = formatOid(oid);
      const g = groups.get(key) ?? { oid, indexes: [] };
      g.indexes.push(c.vmIndex);
      groups.set(key, g);
    }
    for (const g of groups.values()) this.emit(g.oid, [{ oid: VM_AFFECTED, value: str(vmListBitmap(g.indexes)) }]);
  }

  private emit(trapOid: Oid, vbs: Instance[]): void {
    const transport: Transport = this.opts.subagent ? "agentx" : "standalone";
    const varbinds: NsVarbind[] = vbs.map((v) => toWire(formatOid(v.oid), v.value, transport));
    const oid = formatOid(trapOid);
    if (this.opts.subagent) {
      this.opts.subagent.notify(oid, varbinds);
      return;
    }
    const options = { upTime: this.opts.source.upTimeTicks() };
    for (const s of this.sessions) {
      const done = (err: unknown): void => {
        if (err) this.opts.log.warn({ err: String(err), trap: oid, sink: s.sink_ }, "snmp notification not delivered");
      };
      if (s.inform_) this.inform(s, oid, varbinds, options, done);
      else s.trap(oid, varbinds, options, done);
    }
  }

  /**
   * net-snmp retransmits an unanswered inform with backoff but keeps every one in memory;
   * a sink that is down during a storm would grow that without bound, so each sink gets at
   * most max_inflight unacknowledged informs and the rest are dropped and counted.
   */
  private inform(s: SinkSession, oid: string, varbinds: NsVarbind[], options: Record<string, unknown>, done: (err: unknown) => void): void {
    if (s.inflight_ >= this.opts.settings.notifications.max_inflight) {
      this.dropped++;
      this.opts.log.warn({ trap: oid, sink: s.sink_, dropped: this.dropped }, "snmp inform dropped: too many unacknowledged informs for this sink");
      return;
    }
    s.inflight_++;
    s.inform(oid, varbinds, options, (err) => {
      s.inflight_--;
      done(err);
    });
  }
}

/** VirtualMachineList: bit (index-1) set, most significant bit first (RFC 7666). */
export function vmListBitmap(indexes: number[]): Buffer {
  const max = Math.max(0, ...indexes);
  const buf = Buffer.alloc(Math.ceil(max / 8));
  for (const i of indexes) {
    if (i < 1) continue;
    const byte = Math.floor((i - 1) / 8);
    buf[byte] = (buf[byte] as number) | (0x80 >> (i - 1) % 8);
  }
  return buf;
}
