import { describe, expect, it } from "vitest";
import { diskRows, formatAddrs, formatBlkList, formatIfList, interfaceAddresses, interfaceRows, prefixOf, vncDisplay } from "../../../agent/cli/device-verbs.js";
import * as domainXml from "../../../agent/model/domain-xml.js";

const LIVE = `<domain type='qemu' id='3'>
  <name>web</name><uuid>6c9c2a7e-0c1b-4d39-9a1e-3d1e1b0c0003</uuid>
  <memory unit='KiB'>65536</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/srv/img/web.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/><target dev='vnet7'/><model type='virtio'/></interface>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cd'/><source bridge='br0'/><model type='e1000'/></interface>
    <graphics type='vnc' port='5903' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>
  </devices>
</domain>`;

describe("virsh's device listings in the CLI", () => {
  it("domiflist: the tap of each interface (- when it has none), type, source, model, MAC, in virsh's table", () => {
    const out = formatIfList(interfaceRows(domainXml.parse(LIVE))).split("\n");
    expect(out[0]).toMatch(/^ Interface\s+Type\s+Source\s+Model\s+MAC$/);
    expect(out[1]).toMatch(/^-+$/);
    expect(out.slice(2).map((l) => l.trim().split(/\s+/))).toEqual([
      ["vnet7", "network", "default", "virtio", "52:54:00:aa:bb:cc"],
      ["-", "bridge", "br0", "e1000", "52:54:00:aa:bb:cd"],
    ]);
  });

  it("domblklist: target and source (- for an empty drive); --details adds type and device", () => {
    const rows = diskRows(domainXml.parse(LIVE));
    expect(formatBlkList(rows, false).split("\n").slice(2).map((l) => l.trim().split(/\s+/))).toEqual([["vda", "/srv/img/web.qcow2"], ["sda", "-"]]);
    const details = formatBlkList(rows, true).split("\n");
    expect(details[0]).toMatch(/^ Type\s+Device\s+Target\s+Source$/);
    expect(details.slice(2).map((l) => l.trim().split(/\s+/))).toEqual([["file", "disk", "vda", "/srv/img/web.qcow2"], ["file", "cdrom", "sda", "-"]]);
  });

  it("vncdisplay: LISTEN:N of the live port (also with autoport), :N for any address, an error when not running or without VNC", () => {
    expect(vncDisplay(LIVE, true)).toBe("127.0.0.1:3");
    expect(vncDisplay(LIVE.replace(/127\.0\.0\.1/g, "0.0.0.0"), true)).toBe(":3");
    expect(() => vncDisplay(LIVE.replace(" id='3'", "").replace("port='5903'", "port='-1'"), false)).toThrow(/"web" is not running: its VNC display is not allocated/);
    expect(() => vncDisplay(LIVE, false)).toThrow(/not running/);
    expect(() => vncDisplay(LIVE.replace(/<graphics[\s\S]*<\/graphics>/, ""), true)).toThrow(/"web" has no VNC display/);
  });

  it("domifaddr: a lease's prefix is that of the network subnet it is in", () => {
    expect(prefixOf("192.168.122.52", ["10.0.0.1/8", "192.168.122.1/24"])).toBe(24);
    expect(prefixOf("192.168.123.52", ["192.168.122.1/24"])).toBeUndefined();
    expect(prefixOf("10.200.1.1", ["10.0.0.1/8"])).toBe(8);
    expect(prefixOf("fd00::5", ["192.168.122.1/24"])).toBeUndefined();
  });
});

describe("domifaddr", () => {
  it("lists each network interface's leases by MAC with the subnet's prefix, asking each network once", async () => {
    const asked: string[] = [];
    const rt = {
      call: async (op: string, args: Record<string, unknown>): Promise<unknown> => {
        asked.push(`${op} ${String(args["network"])}`);
        if (op === "network.dhcp_leases") {
          return { leases: [
            { type: "ipv4", ip_address: "192.168.122.52", mac: "52:54:00:AA:BB:CC" },
            { type: "ipv4", ip_address: "192.168.122.60", mac: "52:54:00:00:00:01" },
            { type: "ipv6", ip_address: "fd00::52", iaid: "1" },
          ] };
        }
        return { addresses: ["192.168.122.1/24"] };
      },
      close: async () => undefined,
    };
    const def = domainXml.parse(LIVE.replace("</devices>", "<interface type='network'><mac address='52:54:00:aa:bb:ce'/><source network='default'/><model type='virtio'/></interface></devices>"));
    const rows = await interfaceAddresses(rt as never, def);
    expect(rows).toEqual([{ name: "vnet7", mac: "52:54:00:aa:bb:cc", protocol: "ipv4", address: "192.168.122.52/24" }]);
    expect(asked).toEqual(["network.dhcp_leases default", "network.info default"]);
    expect(formatAddrs(rows).split("\n")[0]).toMatch(/^ Name\s+MAC address\s+Protocol\s+Address$/);
  });
});
