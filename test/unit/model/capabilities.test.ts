import { describe, expect, it } from "vitest";
import {
  cacheSizeUnit,
  formatCapabilitiesXml,
  formatCpuList,
  guestMachines,
  toCapabilitiesJson,
  type HostCapabilities,
} from "../../../agent/model/capabilities.js";

function minimal(): HostCapabilities {
  return {
    host: {
      uuid: "11111111-2222-4333-8444-555555555555",
      cpu: { arch: "x86_64", topology: { sockets: 1, dies: 1, cores: 1, threads: 1 }, features: [], pageSizesKib: [4] },
      powerManagement: [],
      memSleep: [],
      iommu: false,
      migration: { live: true, uriTransports: ["tcp"] },
      cells: [],
      cacheBanks: [],
      secModels: [{ model: "none", doi: "0" }],
    },
    guests: [],
  };
}

describe("capabilities model", () => {
  it("guestMachines lists an alias right after its canonical machine with canonical set", () => {
    const list = guestMachines([
      { name: "pc-q35-7.2", alias: "q35", isDefault: false, deprecated: false, maxCpus: 288 },
      { name: "pc-i440fx-7.2", alias: "pc", isDefault: true, deprecated: false, maxCpus: 255 },
      { name: "pc-i440fx-1.4", isDefault: false, deprecated: true, maxCpus: 255 },
    ]);
    expect(list.map((m) => [m.name, m.canonical])).toEqual([
      ["pc-i440fx-7.2", undefined],
      ["pc", "pc-i440fx-7.2"],
      ["pc-q35-7.2", undefined],
      ["q35", "pc-q35-7.2"],
      ["pc-i440fx-1.4", undefined],
    ]);
    expect(list[4]?.deprecated).toBe(true);
  });

  it("formatCpuList collapses runs into ranges and ignores order and duplicates", () => {
    expect(formatCpuList([7, 0, 1, 2, 4, 5, 2])).toBe("0-2,4-5,7");
    expect(formatCpuList([3])).toBe("3");
    expect(formatCpuList([])).toBe("");
  });

  it("cacheSizeUnit picks the largest unit that divides the size exactly", () => {
    expect(cacheSizeUnit(32768)).toEqual([32, "MiB"]);
    expect(cacheSizeUnit(36608)).toEqual([36608, "KiB"]);
    expect(cacheSizeUnit(1048576)).toEqual([1, "GiB"]);
  });

  it("XML output escapes text and attribute values", () => {
    const caps = minimal();
    caps.host.cpu.model = "A<B&'C'";
    caps.guests.push({
      osType: "hvm",
      arch: "x86_64",
      wordsize: 64,
      emulator: "/opt/q&a/qemu",
      machines: [{ name: "m<1>", canonical: "x'y\"z", maxCpus: 1, deprecated: false }],
      domainTypes: ["qemu"],
      features: [],
    });
    const xml = formatCapabilitiesXml(caps);
    expect(xml).toContain("<model>A&lt;B&amp;&apos;C&apos;</model>");
    expect(xml).toContain("<emulator>/opt/q&amp;a/qemu</emulator>");
    expect(xml).toContain("<machine canonical='x&apos;y&quot;z' maxCpus='1'>m&lt;1&gt;</machine>");
    expect(xml).not.toContain("A<B");
    expect(xml).not.toContain("q&a/");
  });

  it("an unknown cpu model, no power management and no cache are shown the way virsh shows them", () => {
    const xml = formatCapabilitiesXml(minimal());
    expect(xml).not.toMatch(/<cpu>[^]*<model>[^]*<\/cpu>/);
    expect(xml).toContain("<power_management/>");
    expect(xml).not.toContain("<cache>");
    expect(xml).toContain("<iommu support='no'/>");
    expect(xml.startsWith("<capabilities>\n\n  <host>\n")).toBe(true);
  });

  it("JSON output carries the same data with snake_case keys", () => {
    const caps = minimal();
    caps.host.cells.push({
      id: 0,
      memoryKib: 1024,
      pages: [{ sizeKib: 4, count: 256, free: 10 }],
      distances: [{ id: 0, value: 10 }],
      cpus: [{ id: 0, socketId: 0, dieId: 0, coreId: 0, siblings: "0" }],
    });
    const json = toCapabilitiesJson(caps) as { host: { cells: Array<Record<string, unknown>>; migration_features: unknown } };
    expect(json.host.cells[0]).toEqual({
      id: 0,
      memory_kib: 1024,
      pages: [{ size_kib: 4, count: 256, free: 10 }],
      distances: [{ id: 0, value: 10 }],
      cpus: [{ id: 0, socket_id: 0, die_id: 0, core_id: 0, siblings: "0" }],
    });
    expect(json.host.migration_features).toEqual({ live: true, uri_transports: ["tcp"] });
  });
});
