import { describe, expect, it } from "vitest";
import { AgentError } from "../../../agent/model/errors.js";
import { cidrOf, cidrsOverlap, formatIp, parseIpv4, parseIpv6 } from "../../../agent/model/network-ip.js";
import * as networkXml from "../../../agent/model/network-xml.js";
import { checkConflicts, validateNetworkDef } from "../../../agent/model/network-validate.js";

function net(name: string, bridge: string, addr: string, prefix = 24): ReturnType<typeof networkXml.parse> {
  const def = networkXml.parse(`<network><name>${name}</name><forward mode='nat'/><bridge name='${bridge}'/><ip address='${addr}' prefix='${prefix}'/></network>`);
  validateNetworkDef(def);
  return def;
}

function codeOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AgentError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

describe("network address arithmetic", () => {
  it("IPv6 text is parsed with :: and formatted in RFC 5952 form", () => {
    const v = parseIpv6("FD00:0:0:0:0:0:0:1");
    expect(v).toBeDefined();
    expect(formatIp("ipv6", v as bigint)).toBe("fd00::1");
    expect(formatIp("ipv6", parseIpv6("1:0:0:2:0:0:0:3") as bigint)).toBe("1:0:0:2::3");
  });

  it("malformed addresses are refused rather than guessed", () => {
    expect(parseIpv4("10.0.0.256")).toBeUndefined();
    expect(parseIpv4("010.0.0.1")).toBeUndefined();
    expect(parseIpv6("fd00::1::2")).toBeUndefined();
    expect(parseIpv6("1:2:3:4:5:6:7:8:9")).toBeUndefined();
  });

  it("a /16 overlaps a /24 inside it but not one next to it", () => {
    const wide = cidrOf("ipv4", parseIpv4("10.1.0.0") as bigint, 16);
    expect(cidrsOverlap(wide, cidrOf("ipv4", parseIpv4("10.1.7.0") as bigint, 24))).toBe(true);
    expect(cidrsOverlap(wide, cidrOf("ipv4", parseIpv4("10.2.0.0") as bigint, 24))).toBe(false);
  });
});

describe("network conflicts", () => {
  it("a subnet overlapping another network's is refused with operation_invalid naming it", () => {
    expect(codeOf(() => checkConflicts(net("b", "vbr-b", "10.1.7.1"), [net("a", "vbr-a", "10.1.0.1", 16)]))).toBe(
      "operation_invalid: subnet 10.1.0.0/16 of network 'a' overlaps this network",
    );
  });

  it("a bridge name used by another network is refused", () => {
    expect(codeOf(() => checkConflicts(net("b", "vbr-x", "10.2.0.1"), [net("a", "vbr-x", "10.3.0.1")]))).toMatch(/^operation_invalid: bridge name 'vbr-x'/);
  });

  it("a subnet overlapping a host route is refused", () => {
    const route = cidrOf("ipv4", parseIpv4("10.4.0.0") as bigint, 16);
    expect(codeOf(() => checkConflicts(net("c", "vbr-c", "10.4.2.1"), [], [route]))).toBe("operation_invalid: subnet overlaps the host route 10.4.0.0/16");
  });

  it("redefining a network is not a conflict with itself", () => {
    expect(codeOf(() => checkConflicts(net("a", "vbr-a", "10.5.0.1"), [net("a", "vbr-a", "10.5.0.1")]))).toBe("no error");
  });

  it("a bridge name longer than IFNAMSIZ allows is refused", () => {
    expect(codeOf(() => net("d", "a-very-long-bridge", "10.6.0.1"))).toMatch(/^invalid_arg: invalid bridge name/);
  });
});
