/**
 * The transport-neutral value layer. MIB code produces `SnmpValue`s; the two transports
 * convert them here, because npm net-snmp 3.29 wants different JS types for the same SMI
 * type depending on the path (DESIGN.md §5): the standalone BER writer takes Counter64 as
 * raw INTEGER content octets, the AgentX writer calls BigInt(value).
 */
export type SnmpValue =
  | { t: "int"; v: number }
  | { t: "str"; v: string | Buffer }
  | { t: "oid"; v: string }
  | { t: "gauge"; v: number }
  | { t: "counter32"; v: number }
  | { t: "ticks"; v: number }
  | { t: "counter64"; v: bigint };

/** net-snmp's ObjectType numbers (the ASN.1 tags). */
export const TAG = {
  Integer: 2,
  OctetString: 4,
  Null: 5,
  OID: 6,
  Counter: 65,
  Gauge: 66,
  TimeTicks: 67,
  Counter64: 70,
  NoSuchObject: 128,
  NoSuchInstance: 129,
  EndOfMibView: 130,
} as const;

const TAG_OF: Record<SnmpValue["t"], number> = {
  int: TAG.Integer,
  str: TAG.OctetString,
  oid: TAG.OID,
  gauge: TAG.Gauge,
  counter32: TAG.Counter,
  ticks: TAG.TimeTicks,
  counter64: TAG.Counter64,
};

export interface WireVarbind {
  oid: string;
  type: number;
  value: unknown;
}

export type Transport = "standalone" | "agentx";

/** Clamps to the SMI ranges so a huge counter never throws inside the encoder. */
export function toWire(oid: string, val: SnmpValue, transport: Transport): WireVarbind {
  const type = TAG_OF[val.t];
  switch (val.t) {
    case "counter64":
      return { oid, type, value: transport === "agentx" ? clamp64(val.v) : counter64Octets(val.v) };
    case "int":
      return { oid, type, value: Math.max(-2147483648, Math.min(2147483647, Math.trunc(val.v))) };
    case "gauge":
    case "counter32":
    case "ticks":
      return { oid, type, value: Math.max(0, Math.min(0xffffffff, Math.trunc(val.v))) % 0x100000000 };
    default:
      return { oid, type, value: val.v };
  }
}

function clamp64(v: bigint): bigint {
  return BigInt.asUintN(64, v < 0n ? 0n : v);
}

/** Minimal BER INTEGER content for an unsigned 64-bit value (leading 0x00 when the top bit is set). */
export function counter64Octets(v: bigint): Buffer {
  let x = clamp64(v);
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(x & 0xffn));
    x >>= 8n;
  } while (x > 0n);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return Buffer.from(bytes);
}

export const int = (v: number): SnmpValue => ({ t: "int", v });
export const str = (v: string | Buffer): SnmpValue => ({ t: "str", v });
export const gauge = (v: number): SnmpValue => ({ t: "gauge", v });
export const ticks = (v: number): SnmpValue => ({ t: "ticks", v });
export const c64 = (v: number | bigint): SnmpValue => ({ t: "counter64", v: typeof v === "bigint" ? v : BigInt(Math.max(0, Math.trunc(v))) });
