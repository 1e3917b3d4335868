import { describe, expect, it } from "vitest";
import { isLoopbackAddress } from "../../../../agent/exporters/snmp/standalone.js";

describe("v2c loopback check", () => {
  it("accepts 127.0.0.0/8 and ::1", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1"].map(isLoopbackAddress)).toEqual([true, true, true]);
  });

  it("accepts IPv4 loopback seen as an IPv4-mapped address on a dual-stack listener", () => {
    expect(isLoopbackAddress("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopbackAddress("::FFFF:127.0.0.1")).toBe(true);
  });

  it("refuses every other source, including look-alikes", () => {
    const others = ["10.0.0.1", "192.168.1.127", "::ffff:10.0.0.1", "fe80::1", "127.example.com", "1127.0.0.1", "::2"];
    expect(others.filter(isLoopbackAddress)).toEqual([]);
  });
});
