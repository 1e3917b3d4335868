import { describe, expect, it } from "vitest";
import { parseCacheSize } from "../../../../agent/drivers/host/cache.js";
import { cpuFeatures, cpuModelName } from "../../../../agent/drivers/host/cpu-model.js";
import { parseCpuinfo } from "../../../../agent/drivers/host/cpuinfo.js";
import { parseChoices, uuidFromMachineId } from "../../../../agent/drivers/host/platform.js";
import { parseCpuList } from "../../../../agent/drivers/host/sysfs.js";
import { parseHugepageDirs, parseMeminfo, summariseTopology } from "../../../../agent/drivers/host/topology.js";

describe("host readers", () => {
  it("parseCpuList expands ranges and skips malformed parts", () => {
    expect(parseCpuList("0-2,5,7-8\n")).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseCpuList("")).toEqual([]);
    expect(parseCpuList("3-1,x,4")).toEqual([4]);
  });

  it("parseCpuinfo reads the first processor block with a hex microcode", () => {
    const info = parseCpuinfo("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Xeon\nstepping\t: 7\nmicrocode\t: 0x5003604\nflags\t\t: fpu sse4_2\n\nprocessor\t: 1\nvendor_id\t: Other\n");
    expect(info).toEqual({ vendorId: "GenuineIntel", family: 6, model: 85, stepping: 7, microcode: 0x5003604, modelName: "Xeon", flags: ["fpu", "sse4_2"] });
  });

  it("cpuModelName tells Skylake, Cascade Lake and Cooper Lake servers apart by stepping", () => {
    const intel = (stepping: number) => cpuModelName({ vendorId: "GenuineIntel", family: 6, model: 0x55, stepping, flags: [] });
    expect([intel(4), intel(7), intel(11)]).toEqual(["Skylake-Server", "Cascadelake-Server", "Cooperlake"]);
    expect(cpuModelName({ vendorId: "AuthenticAMD", family: 0x19, model: 0x11, flags: [] })).toBe("EPYC-Genoa");
    expect(cpuModelName({ vendorId: "GenuineIntel", family: 6, model: 0x01, flags: [] })).toBeUndefined();
  });

  it("cpuFeatures renames flags to libvirt names and drops synthetic ones", () => {
    expect(cpuFeatures(["sse4_1", "pclmulqdq", "constant_tsc", "tsc_deadline_timer", "avx2", "avx2"])).toEqual(["avx2", "pclmuldq", "sse4.1", "tsc-deadline"]);
  });

  it("uuidFromMachineId is stable, a v4 UUID, and does not reveal the machine id", () => {
    const id = "0123456789abcdef0123456789abcdef";
    const u = uuidFromMachineId(id);
    expect(u).toBe(uuidFromMachineId(id));
    expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(u.replace(/-/g, "")).not.toBe(id);
    expect(uuidFromMachineId("fedcba9876543210fedcba9876543210")).not.toBe(u);
  });

  it("parseChoices strips the brackets around the selected mode", () => {
    expect(parseChoices("s2idle [deep]")).toEqual(["s2idle", "deep"]);
    expect(parseChoices(undefined)).toEqual([]);
  });

  it("parseMeminfo and parseHugepageDirs read node and global formats", () => {
    expect(parseMeminfo("Node 1 MemTotal:  100 kB\nNode 1 MemFree: 40 kB").get("MemFree")).toBe(40);
    expect(parseHugepageDirs(["hugepages-1048576kB", "hugepages-2048kB", "other"])).toEqual([2048, 1048576]);
    expect(parseCacheSize("32768K")).toBe(32768);
    expect(parseCacheSize("8M")).toBe(8192);
  });

  it("summariseTopology counts sockets per NUMA node like libvirt's nodeinfo", () => {
    const cpu = (id: number, socketId: number, coreId: number) => ({ id, socketId, dieId: 0, coreId, siblings: "" });
    const cell = (id: number, cpus: ReturnType<typeof cpu>[]) => ({ id, memoryKib: 0, pages: [], distances: [], cpus });
    const t = summariseTopology([cell(0, [cpu(0, 0, 0), cpu(2, 0, 0), cpu(1, 0, 1), cpu(3, 0, 1)]), cell(1, [cpu(4, 1, 0), cpu(5, 1, 1)])]);
    expect(t).toEqual({ sockets: 1, dies: 1, cores: 2, threads: 2 });
  });
});
