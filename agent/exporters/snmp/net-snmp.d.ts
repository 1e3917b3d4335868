/**
 * The slice of npm net-snmp 3.29 (untyped JavaScript) that this exporter touches. Kept
 * narrow on purpose: the transports use its codec, USM and AgentX framing, not its Mib.
 */
declare module "net-snmp" {
  export interface NsVarbind {
    oid: string;
    type: number;
    value: unknown;
  }
  export interface NsPdu {
    id: number;
    type: number;
    varbinds: NsVarbind[];
    nonRepeaters?: number;
    maxRepetitions?: number;
    contextName?: string;
    errorStatus?: number;
    errorIndex?: number;
    getResponsePduForRequest(): NsPdu;
  }
  export interface NsUser {
    name: string;
    level: number;
    authProtocol?: number;
    authKey?: string;
    privProtocol?: number;
    privKey?: string;
  }
  export interface NsMessage {
    version: number;
    community?: string;
    user?: NsUser;
    pdu: NsPdu;
    buffer: Buffer;
    msgSecurityParameters?: {
      msgAuthoritativeEngineID: Buffer;
      msgAuthoritativeEngineBoots: number;
      msgAuthoritativeEngineTime: number;
      msgUserName: string;
      msgAuthenticationParameters: Buffer;
    };
    hasAuthoritativeEngineID(): boolean;
    hasAuthentication(): boolean;
    hasPrivacy(): boolean;
    isReportable(): boolean;
    createReportResponseMessage(engine: NsEngine, context: string, errorType: string): NsMessage;
    createResponseForRequest(pdu: NsPdu): NsMessage;
    toBuffer(): Buffer;
  }
  export interface NsEngine {
    engineID: Buffer;
    engineBoots: number;
    engineTime: number;
  }
  export type Processed = NsMessage | { report: true; original: NsMessage; errorType: string } | undefined;
  export interface NsAgent {
    engine: NsEngine;
    authorizer: { addUser(u: NsUser): void; addCommunity(c: string): void; users: NsUser[] };
    listener: { constructor: { processIncoming(buf: Buffer, authorizer: unknown, cb: (err: unknown) => void): Processed } };
    close(cb?: () => void): void;
  }
  export function createAgent(options: Record<string, unknown>, callback: (err: unknown, data: unknown) => void): NsAgent;

  export interface NsSession {
    on(ev: string, cb: (...args: unknown[]) => void): void;
    trap(typeOrOid: string, varbinds: NsVarbind[], options: Record<string, unknown>, cb: (err: unknown) => void): void;
    inform(typeOrOid: string, varbinds: NsVarbind[], options: Record<string, unknown>, cb: (err: unknown) => void): void;
    close(): void;
  }
  export function createSession(target: string, community: string, options: Record<string, unknown>): NsSession;
  export function createV3Session(target: string, user: NsUser, options: Record<string, unknown>): NsSession;

  export interface AgentXPduLike {
    pduType: number;
    sessionID: number;
    transactionID: number;
    packetID: number;
    nonRepeaters?: number;
    maxRepetitions?: number;
    searchRangeList?: { start: string; end: string; include?: number }[];
    varbinds?: NsVarbind[];
    error?: number;
    index?: number;
    getResponsePduForRequest(): AgentXPduLike;
  }
  export interface NsSubagent {
    sessionID: number;
    socket?: { destroy(): void; on(ev: string, cb: (...a: unknown[]) => void): void };
    on(ev: string, cb: (...args: unknown[]) => void): void;
    removeAllListeners(ev?: string): void;
    open(cb: (err: unknown, pdu?: unknown) => void): void;
    close(cb?: (err: unknown) => void): void;
    registerProvider(provider: Record<string, unknown>, cb: (err: unknown) => void): void;
    notify(typeOrOid: string, varbinds: NsVarbind[], cb?: (err: unknown) => void): void;
    sendResponse(pdu: AgentXPduLike, varbinds?: NsVarbind[]): void;
    [hook: string]: unknown;
  }
  export function createSubagent(options: Record<string, unknown>): NsSubagent;

  export const Version2c: number;
  export const Version3: number;
  export const PduType: Record<string, number>;
  export const SecurityLevel: Record<string, number>;
  export const AuthProtocols: Record<string, number>;
  export const PrivProtocols: Record<string, number>;
  export const AgentXPduType: Record<string, number>;
  export const MibProviderType: Record<string, number>;
  export const ObjectType: Record<string, number>;
  export const MaxAccess: Record<string, number>;

  const snmp: {
    createAgent: typeof createAgent;
    createSession: typeof createSession;
    createV3Session: typeof createV3Session;
    createSubagent: typeof createSubagent;
    Version2c: number;
    Version3: number;
    PduType: Record<string, number>;
    SecurityLevel: Record<string, number>;
    AuthProtocols: Record<string, number>;
    PrivProtocols: Record<string, number>;
    AgentXPduType: Record<string, number>;
    MibProviderType: Record<string, number>;
    ObjectType: Record<string, number>;
    MaxAccess: Record<string, number>;
  };
  export default snmp;
}
