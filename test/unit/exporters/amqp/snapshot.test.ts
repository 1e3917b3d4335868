import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NetDriver } from "../../../../agent/drivers/net/driver.js";
import { buildSnapshot } from "../../../../agent/exporters/amqp/snapshot.js";
import { makeHarness } from "../../../helpers/harness.js";

const NET_XML = `<network><name>snapnet</name><bridge name='vbsnap0'/><forward mode='nat'/>
  <ip address='10.251.77.1' prefix='24'><dhcp><range start='10.251.77.10' end='10.251.77.50'/></dhcp></ip></network>`;

describe("state snapshots", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("a snapshot lists every guest and every defined network with its state", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    const dir = mkdtempSync(join(tmpdir(), "vb-snap-"));
    dirs.push(dir);
    const net = new NetDriver({ stateDir: join(dir, "state"), runDir: join(dir, "run"), bus: h.bus, log: h.services.log });
    await net.open();
    await net.defineNetwork(NET_XML);
    const snap = buildSnapshot({ ...h.services, network: net }, h.bus.epoch, 7, "resync") as { seq: number; payload: { domains: { name: string; state: string }[]; networks: Record<string, unknown>[] } };
    expect(snap.seq).toBe(7);
    expect(snap.payload.domains.map((d) => `${d.name}:${d.state}`).sort()).toEqual(["demo-1:running", "demo-2:shutoff"]);
    expect(snap.payload.networks).toEqual([
      expect.objectContaining({ name: "snapnet", active: false, forward: "nat", bridge: "vbsnap0", addresses: ["10.251.77.1/24"] }),
    ]);
  });

  it("an agent without a network driver reports no networks", async () => {
    const h = await makeHarness();
    const snap = buildSnapshot(h.services, h.bus.epoch, 1, "start") as { payload: { networks: unknown[] } };
    expect(snap.payload.networks).toEqual([]);
  });
});
