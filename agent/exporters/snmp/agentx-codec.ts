/**
 * Fix for npm net-snmp 3.29's AgentX OCTET STRING writer (RFC 2741 §5.3: a 4-octet length,
 * the octets, zero padding to a multiple of 4). It calls SmartBuffer.writeString(value),
 * which throws on a Buffer (binary values such as vmUUID), and it writes the JavaScript
 * string length as the octet count, so a non-ASCII name corrupts the PDU and snmpd drops
 * the session. The replacement writes the UTF-8 (or raw) bytes with their real length.
 */
import snmp from "net-snmp";

interface OctetWriter {
  writeUInt32BE(v: number): unknown;
  writeBuffer(b: Buffer): unknown;
  writeUInt8(v: number): unknown;
}

type AgentXPduStatics = { writeOctetString: (buffer: OctetWriter, value: unknown) => void; virtbusOctets?: true };

function writeOctetString(buffer: OctetWriter, value: unknown): void {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value ?? ""), "utf8");
  buffer.writeUInt32BE(bytes.length);
  buffer.writeBuffer(bytes);
  for (let i = 0; i < (4 - (bytes.length % 4)) % 4; i++) buffer.writeUInt8(0);
}

/** Installs the writer once per process (idempotent). */
export function fixAgentxOctetStrings(): void {
  const pdu = (snmp as unknown as { AgentXPdu: AgentXPduStatics }).AgentXPdu;
  if (pdu.virtbusOctets) return;
  pdu.writeOctetString = writeOctetString;
  pdu.virtbusOctets = true;
}
