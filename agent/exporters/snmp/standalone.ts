/**
 * The standalone SNMP agent (UDP). npm net-snmp supplies the BER codec and USM
 * (authentication, privacy, reports); this module owns everything else, because its Agent
 * does no USM time-window check, never advances engineBoots/engineTime and keeps a heavy
 * Mib tree (DESIGN.md §5). Here: engineBoots is persisted and engineTime advances, a
 * message outside the 150 s window or from another boot gets a notInTimeWindow report,
 * an authenticated message seen before is dropped, v2c is read-only and loopback-only
 * unless a community allows remote use, and SETs need an authPriv user with write access.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import snmp, { type NsAgent, type NsMessage, type NsPdu, type NsVarbind } from "net-snmp";
import type { Logger } from "pino";
import { AgentError } from "../../model/errors.js";
import { engineTime, type EngineState } from "./engine-state.js";
import type { MibSource } from "./mib-source.js";
import { answerBulk, answerGet, answerNext } from "./responder.js";
import { ERR, type SetVarbind } from "./set-plan.js";
import type { SnmpSettings } from "./settings.js";

/** RFC 3414 §2.2.3. */
const TIME_WINDOW_S = 150;
const USM_REPORT = { notInTimeWindow: "2", unknownEngineId: "4" } as const;

export interface SetRunner {
  /** Test then commit; resolves with the error-status and index for the response. */
  (varbinds: SetVarbind[], user: string): Promise<{ errorStatus: number; errorIndex: number }>;
}

export interface StandaloneOptions {
  settings: SnmpSettings;
  engine: EngineState;
  source: MibSource;
  runSet: SetRunner;
  log: Logger;
}

export class StandaloneAgent {
  private agent?: NsAgent;
  private socket?: Socket;
  private readonly seenDigests = new Map<string, number>();
  private readonly setResults = new Map<string, Promise<{ errorStatus: number; errorIndex: number }>>();
  private readonly writers = new Set<string>();

  constructor(private readonly opts: StandaloneOptions) {}

  async start(): Promise<void> {
    const { settings, engine } = this.opts;
    // net-snmp's own listener gets a socket that never binds: this class owns the real one.
    const inert = { createSocket: () => ({ on: () => undefined, bind: () => undefined, close: () => undefined }) };
    this.agent = snmp.createAgent({ engineID: engine.engineId, dgramModule: inert, disableAuthorization: false }, () => undefined);
    Object.defineProperty(this.agent.engine, "engineBoots", { get: () => engine.boots });
    Object.defineProperty(this.agent.engine, "engineTime", { get: () => engineTime(engine) });
    for (const c of settings.communities) this.agent.authorizer.addCommunity(c.name);
    for (const u of settings.users) {
      this.agent.authorizer.addUser({
        name: u.name,
        level: snmp.SecurityLevel["authPriv"] as number,
        authProtocol: snmp.AuthProtocols[u.auth_protocol] as number,
        authKey: u.auth_key,
        privProtocol: snmp.PrivProtocols[u.priv_protocol] as number,
        privKey: u.priv_key,
      });
      if (u.access === "write") this.writers.add(u.name);
    }
    await this.bind(settings.listen.address, settings.listen.port);
  }

  private bind(address: string, port: number): Promise<void> {
    const sock = createSocket(address.includes(":") ? "udp6" : "udp4");
    this.socket = sock;
    return new Promise((resolve, reject) => {
      sock.once("error", (err) => reject(new AgentError("operation_failed", `snmp: cannot bind ${address}:${port}: ${err.message}`, { component: "snmp", cause: err })));
      sock.bind(port, address, () => {
        sock.removeAllListeners("error");
        sock.on("error", (err) => this.opts.log.warn({ err }, "snmp socket error"));
        sock.on("message", (buf, rinfo) => this.onDatagram(buf, rinfo));
        this.opts.log.info({ address, port }, "snmp agent listening");
        resolve();
      });
    });
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  async stop(): Promise<void> {
    const sock = this.socket;
    this.socket = undefined;
    if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()));
  }

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    try {
      this.handle(buf, rinfo);
    } catch (err) {
      this.opts.log.debug({ err, from: rinfo.address }, "snmp: malformed or unprocessable message dropped");
    }
  }

  private handle(buf: Buffer, rinfo: RemoteInfo): void {
    const agent = this.agent as NsAgent;
    const processed = agent.listener.constructor.processIncoming(buf, agent.authorizer, (err) => {
      this.opts.log.debug({ err: String(err), from: rinfo.address }, "snmp: request refused by USM or community check");
    });
    if (!processed) return;
    if ("report" in processed) {
      this.send(processed.original.createReportResponseMessage(agent.engine, "", processed.errorType), rinfo);
      return;
    }
    const msg = processed;
    if (msg.version === snmp.Version3 && !this.checkV3(msg, rinfo)) return;
    if (msg.version === snmp.Version2c && !this.communityAllowed(msg, rinfo)) return;
    if (msg.version !== snmp.Version3 && msg.version !== snmp.Version2c) return; // SNMPv1 is not served
    if (msg.pdu.contextName) return; // no non-default contexts
    this.dispatch(msg, rinfo);
  }

  /** USM checks net-snmp leaves out: engine ID, time window (RFC 3414 §3.2 step 7) and replays. */
  private checkV3(msg: NsMessage, rinfo: RemoteInfo): boolean {
    const agent = this.agent as NsAgent;
    const sp = msg.msgSecurityParameters;
    if (!sp) return false;
    const isDiscovery = !msg.hasAuthoritativeEngineID() || !msg.hasAuthentication();
    if (isDiscovery) {
      if (msg.isReportable()) this.send(msg.createReportResponseMessage(agent.engine, "", USM_REPORT.unknownEngineId), rinfo);
      return false;
    }
    if (!sp.msgAuthoritativeEngineID.equals(this.opts.engine.engineId)) {
      this.send(msg.createReportResponseMessage(agent.engine, "", USM_REPORT.unknownEngineId), rinfo);
      return false;
    }
    const now = engineTime(this.opts.engine);
    const inWindow = sp.msgAuthoritativeEngineBoots === this.opts.engine.boots && Math.abs(sp.msgAuthoritativeEngineTime - now) <= TIME_WINDOW_S;
    if (!inWindow) {
      this.opts.log.warn({ user: sp.msgUserName, from: rinfo.address }, "snmp: message outside the USM time window refused");
      this.send(msg.createReportResponseMessage(agent.engine, "", USM_REPORT.notInTimeWindow), rinfo);
      return false;
    }
    return this.firstSighting(sp.msgAuthenticationParameters.toString("hex"));
  }

  /** An authenticated message is valid once: a byte-identical copy inside the window is a replay. */
  private firstSighting(digest: string): boolean {
    const now = performance.now();
    if (this.seenDigests.has(digest)) {
      this.opts.log.warn("snmp: replayed SNMPv3 message dropped");
      return false;
    }
    if (this.seenDigests.size > 50_000) {
      for (const [d, exp] of this.seenDigests) if (exp < now) this.seenDigests.delete(d);
    }
    this.seenDigests.set(digest, now + 2 * TIME_WINDOW_S * 1000);
    return true;
  }

  private communityAllowed(msg: NsMessage, rinfo: RemoteInfo): boolean {
    const c = this.opts.settings.communities.find((x) => x.name === msg.community);
    if (!c) return false;
    return isLoopbackAddress(rinfo.address) || c.allow_remote;
  }

  private dispatch(msg: NsMessage, rinfo: RemoteInfo): void {
    const pdu = msg.pdu;
    const oids = pdu.varbinds.map((v) => v.oid);
    const view = () => this.opts.source.view();
    switch (pdu.type) {
      case snmp.PduType["GetRequest"]:
        return this.respond(msg, rinfo, answerGet(view(), oids, "standalone"));
      case snmp.PduType["GetNextRequest"]:
        return this.respond(msg, rinfo, answerNext(view(), oids, "standalone"));
      case snmp.PduType["GetBulkRequest"]:
        return this.respond(msg, rinfo, answerBulk(view(), oids, pdu.nonRepeaters ?? 0, pdu.maxRepetitions ?? 0, "standalone"));
      case snmp.PduType["SetRequest"]:
        return void this.set(msg, rinfo);
      default:
        return;
    }
  }

  private async set(msg: NsMessage, rinfo: RemoteInfo): Promise<void> {
    const user = msg.version === snmp.Version3 ? (msg.user?.name ?? "") : "";
    if (msg.version !== snmp.Version3 || !msg.hasPrivacy() || !this.writers.has(user)) {
      this.respond(msg, rinfo, msg.pdu.varbinds, ERR.noAccess, 1);
      return;
    }
    // A manager retransmits a SET it got no answer for (same request-id): run it once.
    const key = `${rinfo.address}:${rinfo.port}:${user}:${msg.pdu.id}`;
    let result = this.setResults.get(key);
    if (!result) {
      result = this.opts.runSet(msg.pdu.varbinds, user);
      this.setResults.set(key, result);
      setTimeout(() => this.setResults.delete(key), 60_000).unref();
    }
    const { errorStatus, errorIndex } = await result;
    this.respond(msg, rinfo, msg.pdu.varbinds, errorStatus, errorIndex);
  }

  private respond(msg: NsMessage, rinfo: RemoteInfo, varbinds: NsVarbind[], errorStatus = 0, errorIndex = 0): void {
    const resp: NsPdu = msg.pdu.getResponsePduForRequest();
    resp.errorStatus = errorStatus;
    resp.errorIndex = errorIndex;
    // GETBULK answers are trimmed (never a tooBig) until they fit one datagram (RFC 3416 §4.2.3).
    let vbs = varbinds;
    for (;;) {
      resp.varbinds = vbs;
      const out = msg.createResponseForRequest(resp);
      const bytes = out.toBuffer();
      if (bytes.length <= 65000 || vbs.length <= 1) {
        this.sendBytes(bytes, rinfo);
        return;
      }
      vbs = vbs.slice(0, Math.ceil(vbs.length / 2));
    }
  }

  private send(message: NsMessage, rinfo: RemoteInfo): void {
    this.sendBytes(message.toBuffer(), rinfo);
  }

  private sendBytes(bytes: Buffer, rinfo: RemoteInfo): void {
    this.socket?.send(bytes, rinfo.port, rinfo.address, (err) => {
      if (err) this.opts.log.debug({ err }, "snmp: send failed");
    });
  }
}

/**
 * Whether a datagram came from this host's loopback: 127.0.0.0/8, ::1, or 127.x seen through
 * an IPv6 socket as an IPv4-mapped address (a listener on "::" receives those).
 */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === "::1";
}
