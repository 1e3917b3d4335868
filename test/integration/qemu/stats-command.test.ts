import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainStatsWire } from "../../../agent/control/views.js";
import { makeQemuHarness, type QemuHarness } from "../../helpers/qemu-harness.js";
import { requireQemu } from "./helpers.js";

const CALLER = { user: "test", via: "internal" } as const;

describe("domain.stats on a real guest (virsh domstats and friends)", () => {
  let h: QemuHarness;
  let pid: number;
  beforeAll(async () => {
    requireQemu();
    h = await makeQemuHarness();
    const disk = join(h.dir, "stats.img");
    writeFileSync(disk, Buffer.alloc(1 << 20));
    const xml = `<domain type='qemu'><name>stats</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`;
    await h.dispatcher.dispatch("domain.define", { xml }, CALLER);
    await h.dispatcher.dispatch("domain.start", { domain: "stats" }, CALLER);
    pid = h.store.findDomain("stats")!.pid!;
  });
  afterAll(async () => {
    await h?.cleanup();
  });

  it("reports CPU, vCPU, memory and block counters of the running QEMU", async () => {
    const s = (await h.dispatcher.dispatch("domain.stats", { domain: "stats" }, CALLER)) as DomainStatsWire;
    expect(s).toMatchObject({ name: "stats", stale: false, blocks: [{ device: "vda", path: join(h.dir, "stats.img"), capacity_bytes: 1 << 20 }], interfaces: [] });
    expect(s.cpu_time_ns).toBeGreaterThan(0);
    expect(s.vcpus).toHaveLength(1);
    expect(s.memory["rss"]).toBeGreaterThan(1024);
    expect(s.blocks[0]?.allocation_bytes).toBe(1 << 20); // written in full: every byte is allocated
  });

  it("answers a hung guest's request with its last values, marked stale, instead of waiting on it", async () => {
    const first = (await h.dispatcher.dispatch("domain.stats", { domain: "stats" }, CALLER)) as DomainStatsWire;
    process.kill(pid, "SIGSTOP");
    try {
      const t0 = Date.now();
      const s = (await h.dispatcher.dispatch("domain.stats", { domain: "stats" }, CALLER)) as DomainStatsWire;
      expect(Date.now() - t0).toBeLessThan(5000); // bounded by the command's own deadline, not QMP's 10 s
      expect(s.stale).toBe(true);
      expect(s.collected_at).toBe(first.collected_at);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  it("refuses a guest that is not running", async () => {
    await h.dispatcher.dispatch("domain.destroy", { domain: "stats" }, CALLER);
    await expect(h.dispatcher.dispatch("domain.stats", { domain: "stats" }, CALLER)).rejects.toMatchObject({ code: "operation_invalid", message: expect.stringMatching(/"stats" is not running/) });
  });
});
