import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { settings } from "./tools.js";

const CALLER = { user: "t", via: "internal" } as const;

describe("inform backlog per sink", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let dir: string;
  let blackHole: Socket;
  const received: Buffer[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-inflight-"));
    // A sink that takes informs and never acknowledges them.
    blackHole = createSocket("udp4");
    blackHole.on("message", (m) => received.push(m));
    await new Promise<void>((r) => blackHole.bind(0, "127.0.0.1", () => r()));
    h = await makeHarness({ demoDomains: 1 });
    const base = settings();
    const sinks = [{ host: "127.0.0.1", port: blackHole.address().port, version: "2c" as const, community: "c", inform: true }];
    const notifications = { ...base.notifications, bulk: false, window_ms: 10, retries: 0, timeout_ms: 5000, max_inflight: 5, sinks };
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: { ...base, notifications }, stateDir: dir, log: h.services.log });
    await exporter.start();
  });
  afterAll(async () => {
    await exporter?.stop();
    await new Promise<void>((r) => blackHole.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("a sink that never acknowledges gets at most max_inflight informs; the rest are dropped, not queued", async () => {
    const uuid = h.store.listDomains()[0]!.uuid;
    for (let i = 0; i < 10; i++) {
      await h.dispatcher.dispatch("domain.suspend", { domain: uuid }, CALLER);
      await h.dispatcher.dispatch("domain.resume", { domain: uuid }, CALLER);
      await new Promise((r) => setTimeout(r, 15)); // one window each: per-guest notifications, 2 informs per change
    }
    await new Promise((r) => setTimeout(r, 300));
    // 20 changes × (libvirtGuestNotif + vmPaused/vmRunning) = 40 informs wanted; none answered within 5 s.
    expect(received.length).toBe(5);
  });
});
