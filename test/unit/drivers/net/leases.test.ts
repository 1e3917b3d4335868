import { describe, expect, it } from "vitest";
import { parseLeases } from "../../../../agent/drivers/net/leases.js";

describe("dnsmasq lease file parsing", () => {
  it("IPv4 lines give mac, address, hostname and client id, with * meaning unknown", () => {
    const text = "1763900000 52:54:00:AA:BB:01 192.168.150.101 alpha 01:52:54:00:aa:bb:01\n1763900100 52:54:00:aa:bb:02 192.168.150.102 * *\n";
    expect(parseLeases(text)).toEqual([
      { expiryTime: 1763900000, type: "ipv4", ipAddress: "192.168.150.101", mac: "52:54:00:aa:bb:01", hostname: "alpha", clientId: "01:52:54:00:aa:bb:01" },
      { expiryTime: 1763900100, type: "ipv4", ipAddress: "192.168.150.102", mac: "52:54:00:aa:bb:02" },
    ]);
  });

  it("lines after the duid line are IPv6 leases keyed by IAID and DUID", () => {
    const text = "duid 00:01:00:01:2c:aa:bb:cc:52:54:00:00:00:01\n1763900200 1234567 fd00:5::150 beta 00:04:aa:bb\n";
    expect(parseLeases(text)).toEqual([{ expiryTime: 1763900200, type: "ipv6", ipAddress: "fd00:5::150", iaid: "1234567", hostname: "beta", clientId: "00:04:aa:bb" }]);
  });

  it("torn or malformed lines are skipped instead of failing the whole read", () => {
    expect(parseLeases("garbage\n17639\n\n1763900000 52:54:00:aa:bb:03 10.0.0.5 * *")).toHaveLength(1);
  });
});
