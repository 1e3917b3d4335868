import { closeSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainDef, InterfaceDef } from "../../../agent/model/domain-def.js";
import { AgentError } from "../../../agent/model/errors.js";
import { netFixture, ok, requireTools, run, type NetFixture } from "./netns.js";

let f: NetFixture;

beforeAll(async () => {
  requireTools();
  f = await netFixture("tap");
  await f.driver.defineNetwork(`<network><name>tapnet</name><bridge name='vbr-tap'/><ip address='10.70.0.1' prefix='24'/></network>`);
  await f.driver.startNetwork("tapnet");
});
afterAll(() => f?.cleanup());

/** The tap opener reads only the interfaces of a domain. */
function guest(...interfaces: InterfaceDef[]): DomainDef {
  return { devices: { interfaces } } as unknown as DomainDef;
}

function masterOf(tap: string): string | undefined {
  return /master (\S+)/.exec(run(f.ns, "ip", "-o", "link", "show", "dev", tap))?.[1];
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AgentError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

describe("guest taps", () => {
  it("a network interface gets a fresh vnetN on the network's bridge, with the fe: host MAC, gone when the fd closes", async () => {
    const taps = await f.driver.openTaps(guest({ type: "network", source: "tapnet", model: "virtio", mac: "52:54:00:12:34:56" }));
    const name = taps.names[0] ?? "";
    expect(name).toMatch(/^vnet\d+$/);
    expect(typeof taps.fds[0]).toBe("number");
    expect(masterOf(name)).toBe("vbr-tap");
    expect(run(f.ns, "ip", "-o", "link", "show", "dev", name)).toContain("fe:54:00:12:34:56");
    taps.close();
    expect(ok(f.ns, "ip", "link", "show", name)).toBe(false);
  });

  it("generated names skip taps that already exist", async () => {
    const first = await f.driver.openTaps(guest({ type: "network", source: "tapnet", model: "virtio" }));
    const n = Number((first.names[0] ?? "").slice(4));
    first.close();
    for (const k of [n + 1, n + 2]) run(f.ns, "ip", "tuntap", "add", "dev", `vnet${k}`, "mode", "tap");
    const second = await f.driver.openTaps(guest({ type: "network", source: "tapnet", model: "virtio" }, { type: "network", source: "tapnet", model: "virtio" }));
    expect(second.names).toEqual([`vnet${n + 3}`, `vnet${n + 4}`]);
    second.close();
  });

  it("a managed tap whose name already exists is refused and left alone", async () => {
    run(f.ns, "ip", "tuntap", "add", "dev", "pretap0", "mode", "tap");
    const err = await failure(f.driver.openTaps(guest({ type: "bridge", source: "vbr-tap", model: "virtio", target: { dev: "pretap0", managed: true } })));
    expect(err).toBe("operation_invalid: tap 'pretap0' already exists; refusing to use an interface that may belong to another guest");
    expect(masterOf("pretap0")).toBeUndefined();
  });

  it("an unmanaged ethernet tap is used untouched and stays after the guest lets go", async () => {
    run(f.ns, "ip", "tuntap", "add", "dev", "ownedtap", "mode", "tap");
    const before = run(f.ns, "ip", "-o", "link", "show", "dev", "ownedtap").replace(/^\d+: /, "");
    const taps = await f.driver.openTaps(guest({ type: "ethernet", model: "virtio", mac: "52:54:00:00:00:99", target: { dev: "ownedtap", managed: false } }));
    expect(taps.names).toEqual(["ownedtap"]);
    taps.close();
    expect(run(f.ns, "ip", "-o", "link", "show", "dev", "ownedtap").replace(/^\d+: /, "")).toBe(before);
  });

  it("when a later interface fails, the taps already opened are closed and removed", async () => {
    const before = run(f.ns, "ip", "-o", "link", "show").split("\n").length;
    const err = await failure(f.driver.openTaps(guest({ type: "network", source: "tapnet", model: "virtio" }, { type: "network", source: "nosuchnet", model: "virtio" })));
    expect(err).toMatch(/^network\.not_found/);
    expect(run(f.ns, "ip", "-o", "link", "show").split("\n").length).toBe(before);
  });

  it("an interface on an inactive network is refused", async () => {
    await f.driver.defineNetwork(`<network><name>idle</name><bridge name='vbr-idle'/><ip address='10.71.0.1' prefix='24'/></network>`);
    expect(await failure(f.driver.openTaps(guest({ type: "network", source: "idle", model: "virtio" })))).toBe("operation_invalid: network 'idle' is not active");
  });

  it("stopping the network while a tap is held removes the bridge; the tap goes when its fd closes", async () => {
    const taps = await f.driver.openTaps(guest({ type: "network", source: "tapnet", model: "virtio" }));
    const fd = taps.fds[0] as number;
    await f.driver.stopNetwork("tapnet");
    expect(ok(f.ns, "ip", "link", "show", "vbr-tap")).toBe(false);
    closeSync(fd);
    expect(ok(f.ns, "ip", "link", "show", taps.names[0] ?? "")).toBe(false);
  });
});
