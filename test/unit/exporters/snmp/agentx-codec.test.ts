import snmp from "net-snmp";
import { describe, expect, it } from "vitest";
import { fixAgentxOctetStrings } from "../../../../agent/exporters/snmp/agentx-codec.js";

type Pdu = { toBuffer(): Buffer };
const AgentXPdu = (snmp as unknown as { AgentXPdu: { createFromVariables(v: Record<string, unknown>): Pdu } }).AgentXPdu;
const NOTIFY = (snmp.AgentXPduType as Record<string, number>)["Notify"];

function notifyWith(value: unknown): Buffer {
  return AgentXPdu.createFromVariables({ pduType: NOTIFY, sessionID: 1, varbinds: [{ oid: "1.3.6.1.2.1.236.1.4.1.3.1", type: 4, value }] }).toBuffer();
}

/** RFC 2741 §5.3 Octet String: 4-octet length, the octets, zero padding to a 4-octet boundary. */
function octetString(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes, Buffer.alloc((4 - (bytes.length % 4)) % 4)]);
}

describe("AgentX OCTET STRING encoding", () => {
  fixAgentxOctetStrings();

  it("a binary value (a 16-octet UUID) is written as its raw octets instead of throwing", () => {
    const uuid = Buffer.from("0efb3d61ba4749bc8faf22e4c1e48e1a", "hex");
    const pdu = notifyWith(uuid);
    expect(pdu.subarray(-20).equals(octetString(uuid))).toBe(true);
  });

  it("a non-ASCII string is written with its UTF-8 octet count, keeping the PDU length a multiple of 4", () => {
    const utf8 = Buffer.from("gäst", "utf8");
    const pdu = notifyWith("gäst");
    expect(pdu.subarray(-12).equals(octetString(utf8))).toBe(true);
    expect(pdu.readUInt32BE(16)).toBe(pdu.length - 20);
    expect(pdu.length % 4).toBe(0);
  });
});
