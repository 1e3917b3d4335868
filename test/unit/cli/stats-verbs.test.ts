import { describe, expect, it } from "vitest";
import { formatBlkStat, formatDomStats, formatIfStat, formatMemStat } from "../../../agent/cli/stats-verbs.js";
import type { DomainInfo, DomainStatsWire } from "../../../agent/control/views.js";

const block = (device: string, path: string | null, n: number): DomainStatsWire["blocks"][number] => ({
  device, path, rd_reqs: n, rd_bytes: n * 512, wr_reqs: n + 1, wr_bytes: (n + 1) * 512, flush_reqs: 2, rd_total_time_ns: n * 1000, wr_total_time_ns: 7, errors: 0, capacity_bytes: 1048576, allocation_bytes: null,
});
const STATS: DomainStatsWire = {
  name: "web", collected_at: "2026-11-23T19:00:00.000Z", stale: false, cpu_time_ns: 5000, user_time_ns: 3000, system_time_ns: 2000,
  vcpus: [{ id: 0, state: 1, time_ns: 4000 }],
  memory: { rss: 2048, actual: 65536, last_update: 1700000000, unused: 1024 },
  blocks: [block("vda", "/srv/web.img", 10), block("vdb", null, 5)],
  interfaces: [{ device: "vnet3", mac: "52:54:00:aa:bb:cc", rx_bytes: 100, rx_packets: 2, rx_errs: 0, rx_drop: 1, tx_bytes: 50, tx_packets: 1, tx_errs: 0, tx_drop: 0 }],
};
const INFO = { name: "web", state_code: 1, reason_code: 1, vcpus: 2, max_memory_kib: 131072, used_memory_kib: 65536 } as DomainInfo;

describe("virsh's counter verbs in the CLI", () => {
  it("dommemstat prints libvirt's tags in libvirt's order", () => {
    expect(formatMemStat(STATS.memory).split("\n")).toEqual(["unused 1024", "actual 65536", "rss 2048", "last_update 1700000000"]);
  });

  it("domblkstat prints one disk by target or path, sums without one, and names the disks it has for a wrong one", () => {
    expect(formatBlkStat(STATS.blocks, "vda").split("\n")).toEqual(["vda rd_req 10", "vda rd_bytes 5120", "vda wr_req 11", "vda wr_bytes 5632", "vda flush_operations 2", "vda rd_total_times 10000", "vda wr_total_times 7", "vda errs 0"]);
    expect(formatBlkStat(STATS.blocks, "/srv/web.img").split("\n")[0]).toBe("/srv/web.img rd_req 10");
    expect(formatBlkStat(STATS.blocks, undefined).split("\n").slice(0, 3)).toEqual([" rd_req 15", " rd_bytes 7680", " wr_req 17"]);
    expect(() => formatBlkStat(STATS.blocks, "sda")).toThrow(/no disk "sda" \(known: vda, vdb\)/);
  });

  it("domifstat prints an interface by tap or MAC (any case) and refuses an unknown one", () => {
    expect(formatIfStat(STATS.interfaces, "vnet3").split("\n")).toEqual(["vnet3 rx_bytes 100", "vnet3 rx_packets 2", "vnet3 rx_errs 0", "vnet3 rx_drop 1", "vnet3 tx_bytes 50", "vnet3 tx_packets 1", "vnet3 tx_errs 0", "vnet3 tx_drop 0"]);
    expect(formatIfStat(STATS.interfaces, "52:54:00:AA:BB:CC").split("\n")[0]).toBe("52:54:00:AA:BB:CC rx_bytes 100");
    expect(() => formatIfStat(STATS.interfaces, "vnet9")).toThrow(/no interface "vnet9" \(known: vnet3\)/);
  });

  it("domstats uses libvirt's keys (rx.pkts, fl.reqs, balloon.last-update, ...)", () => {
    const lines = formatDomStats(INFO, STATS).split("\n");
    expect(lines[0]).toBe("Domain: 'web'");
    expect(lines).toEqual(expect.arrayContaining([
      "  state.state=1", "  cpu.time=5000", "  cpu.user=3000", "  balloon.current=65536", "  balloon.maximum=131072", "  balloon.rss=2048", "  balloon.last-update=1700000000",
      "  vcpu.current=1", "  vcpu.maximum=2", "  vcpu.0.time=4000", "  net.count=1", "  net.0.name=vnet3", "  net.0.rx.pkts=2", "  net.0.rx.drop=1",
      "  block.count=2", "  block.0.path=/srv/web.img", "  block.0.fl.reqs=2", "  block.0.capacity=1048576", "  block.1.name=vdb",
    ]));
    expect(lines.some((l) => l.startsWith("  block.1.path"))).toBe(false); // an empty drive has no path
  });
});
