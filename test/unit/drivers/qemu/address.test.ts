import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assignAddresses, assignMacs, diskIndex } from "../../../../agent/drivers/qemu/address.js";
import type { DomainDef, PciAddress } from "../../../../agent/model/domain-def.js";
import { parse } from "../../../../agent/model/domain-xml.js";
import { ARGV_DIR } from "./golden.js";

function load(name: string): DomainDef {
  return parse(readFileSync(join(ARGV_DIR, `${name}.xml`), "utf8"));
}

function slots(def: DomainDef): Record<string, number | undefined> {
  const d = def.devices;
  const slot = (a: unknown): number | undefined => (a && typeof a === "object" && "slot" in a ? (a as { slot: number }).slot : undefined);
  return {
    video: slot(d.videos[0]?.address),
    net0: slot(d.interfaces[0]?.address),
    disk0: slot(d.disks[0]?.address),
    balloon: slot(d.memballoon?.address),
  };
}

describe("assignAddresses", () => {
  it("puts the pc video in slot 2 and packs the rest from slot 3 upwards", () => {
    const def = load("boot-order");
    def.devices.videos = [{ model: "vga" }];
    def.devices.memballoon = { model: "virtio" };
    expect(slots(assignAddresses(def, "pc-i440fx-7.2"))).toEqual({ video: 2, net0: 3, disk0: 4, balloon: 5 });
  });

  it("starts at slot 1 on q35 and keeps user addresses where they are", () => {
    const def = load("explicit-pci-addresses");
    def.devices.videos = [{ model: "vga" }];
    expect(slots(assignAddresses(def, "pc-q35-7.2"))).toEqual({ video: 1, net0: 2, disk0: 7, balloon: 3 });
  });

  it("is deterministic and does not mutate its input", () => {
    const def = load("network-virtio-e1000");
    const before = structuredClone(def);
    expect(assignAddresses(def, "pc-i440fx-7.2")).toEqual(assignAddresses(def, "pc-i440fx-7.2"));
    expect(def).toEqual(before);
  });

  it("gives sata, ide and scsi disks drive addresses from their target names", () => {
    const out = assignAddresses(load("ide-disks"), "pc-i440fx-7.2");
    expect(out.devices.disks.map((d) => d.address)).toEqual([
      { controller: 0, bus: 0, target: 0, unit: 0 },
      { controller: 0, bus: 1, target: 0, unit: 0 },
    ]);
    expect(diskIndex("sdaa")).toBe(26);
  });

  it("rejects two disks on the same drive address with invalid_arg", () => {
    const def = load("scsi-disks");
    def.devices.disks = def.devices.disks.map((d) => ({ ...d, address: { controller: 0, bus: 0, target: 0, unit: 0 } }));
    expect(() => assignAddresses(def, "pc-i440fx-7.2")).toThrow(expect.objectContaining({ code: "invalid_arg" }));
  });

  it("rejects an address on a PCI bridge bus with config_unsupported", () => {
    const def = load("virtio-disk-raw");
    def.devices.disks = def.devices.disks.map((d) => ({ ...d, address: { domain: 0, bus: 1, slot: 3, function: 0 } }));
    expect(() => assignAddresses(def, "pc-i440fx-7.2")).toThrow(expect.objectContaining({ code: "config_unsupported" }));
  });
});

const at = (bus: number, slot: number, fn = 0, multifunction?: boolean): PciAddress => ({
  domain: 0, bus, slot, function: fn, ...(multifunction === undefined ? {} : { multifunction }),
});

describe("assignAddresses with PCI controllers and the libvirt device set", () => {
  it("keeps a device behind a pcie-root-port on bus 1 and packs new ones on bus 0", () => {
    const def = load("minimal-diskless");
    def.devices.controllers = [{ type: "pci", index: 1, model: "pcie-root-port", address: at(0, 2) }];
    def.devices.memballoon = { model: "virtio", address: at(1, 0) };
    def.devices.rngs = [{ model: "virtio", backend: "/dev/urandom" }];
    const out = assignAddresses(def, "pc-q35-7.2");
    expect(out.devices.memballoon?.address).toEqual(at(1, 0));
    expect(out.devices.rngs?.[0]?.address).toEqual(at(0, 1));
  });

  it("gives a pcie-root-port without an address the first free bus-0 slot, before the other devices", () => {
    const def = load("minimal-diskless");
    def.devices.controllers = [{ type: "pci", index: 1, model: "pcie-root-port" }];
    def.devices.memballoon = { model: "virtio", address: at(1, 0) };
    def.devices.rngs = [{ model: "virtio", backend: "/dev/urandom" }];
    const out = assignAddresses(def, "pc-q35-7.2");
    expect(out.devices.controllers?.[0]?.address).toEqual(at(0, 1));
    expect(out.devices.rngs?.[0]?.address).toEqual(at(0, 2));
    expect(def.devices.controllers?.[0]?.address).toBeUndefined();
  });

  it("gives sound, rng and an i6300esb watchdog bus-0 slots after the balloon, and the ISA ib700 none", () => {
    const def = load("minimal-diskless");
    def.devices.memballoon = { model: "virtio" };
    def.devices.sounds = [{ model: "ich6" }];
    def.devices.rngs = [{ model: "virtio", backend: "/dev/urandom" }];
    def.devices.watchdogs = [{ model: "i6300esb", action: "reset" }];
    const out = assignAddresses(def, "pc-i440fx-7.2");
    expect([out.devices.memballoon?.address, out.devices.sounds?.[0]?.address, out.devices.rngs?.[0]?.address, out.devices.watchdogs?.[0]?.address])
      .toEqual([at(0, 3), at(0, 4), at(0, 5), at(0, 6)]);
    def.devices.watchdogs = [{ model: "ib700", action: "reset" }];
    expect(assignAddresses(def, "pc-i440fx-7.2").devices.watchdogs?.[0]?.address).toBeUndefined();
  });

  it("does not mutate the optional device lists of its input", () => {
    const def = load("minimal-diskless");
    def.devices.sounds = [{ model: "ich9" }];
    assignAddresses(def, "pc-q35-7.2");
    expect(def.devices.sounds).toEqual([{ model: "ich9" }]);
  });

  it("lets a user device take pc slot 2 but never auto-assigns slot 2 to anything but the primary video", () => {
    const def = load("minimal-diskless");
    def.devices.memballoon = { model: "virtio", address: at(0, 2) };
    def.devices.rngs = [{ model: "virtio", backend: "/dev/urandom" }];
    const out = assignAddresses(def, "pc-i440fx-7.2");
    expect(out.devices.rngs?.[0]?.address).toEqual(at(0, 3));
  });

  it("lets controllers sit at the chipset's own functions (PIIX IDE 01.1, UHCI 01.2) but not other devices", () => {
    const def = load("minimal-diskless");
    def.devices.controllers = [{ type: "ide", index: 0, address: at(0, 1, 1) }, { type: "usb", index: 0, model: "piix3-uhci", address: at(0, 1, 2) }];
    expect(() => assignAddresses(def, "pc-i440fx-7.2")).not.toThrow();
    def.devices.memballoon = { model: "virtio", address: at(0, 1, 3) };
    expect(() => assignAddresses(def, "pc-i440fx-7.2")).toThrow(expect.objectContaining({ code: "invalid_arg", message: expect.stringContaining("the machine") }));
  });

  it("accepts several functions in one slot only when function 0 is multifunction='on'", () => {
    const def = load("minimal-diskless");
    const ports = (mf?: boolean) => [0, 1].map((fn, i) => ({ type: "pci" as const, index: i + 1, model: "pcie-root-port", address: at(0, 2, fn, fn === 0 ? mf : undefined) }));
    def.devices.controllers = ports(true);
    expect(() => assignAddresses(def, "pc-q35-7.2")).not.toThrow();
    def.devices.controllers = ports(undefined);
    expect(() => assignAddresses(def, "pc-q35-7.2")).toThrow(/multifunction/);
  });

  it("refuses slot 0 behind a PCI bridge, which holds the bridge's hotplug controller", () => {
    const def = load("minimal-diskless");
    def.devices.controllers = [{ type: "pci", index: 1, model: "pci-bridge", address: at(0, 5) }];
    def.devices.memballoon = { model: "virtio", address: at(1, 0) };
    expect(() => assignAddresses(def, "pc-i440fx-7.2")).toThrow(expect.objectContaining({ code: "invalid_arg" }));
  });
});

describe("assignMacs", () => {
  it("gives a 52:54:00 MAC to interfaces without one and leaves given MACs alone", () => {
    const def = load("network-virtio-e1000");
    def.devices.interfaces = def.devices.interfaces.map((n, i) => (i === 1 ? n : { ...n, mac: undefined }));
    let k = 0;
    const out = assignMacs(def, () => (k++ < 3 ? 0.5 : 0.25));
    expect(out.devices.interfaces[1]?.mac).toBe(def.devices.interfaces[1]?.mac);
    expect(out.devices.interfaces[0]?.mac).toBe("52:54:00:80:80:80");
    expect(out.devices.interfaces[2]?.mac).toBe("52:54:00:40:40:40");
    expect(def.devices.interfaces[0]?.mac).toBeUndefined();
  });

  it("never draws a MAC another interface already has", () => {
    const def = load("network-virtio-e1000");
    def.devices.interfaces = [{ ...def.devices.interfaces[0]!, mac: "52:54:00:00:00:00" }, { ...def.devices.interfaces[1]!, mac: undefined }];
    let n = 0;
    const out = assignMacs(def, () => (n++ < 3 ? 0 : 0.99));
    expect(out.devices.interfaces[1]?.mac).toBe("52:54:00:fd:fd:fd");
  });

  it("fails with internal instead of looping forever when the random source repeats itself", () => {
    const def = load("network-virtio-e1000");
    def.devices.interfaces = def.devices.interfaces.map((n) => ({ ...n, mac: undefined }));
    expect(() => assignMacs(def, () => 0.5)).toThrow(expect.objectContaining({ code: "internal" }));
  });

  it("rejects a malformed user MAC with invalid_arg", () => {
    const def = load("ethernet-unmanaged");
    def.devices.interfaces = def.devices.interfaces.map((n) => ({ ...n, mac: "52:54:00:zz:00:01" }));
    expect(() => assignMacs(def, Math.random)).toThrow(expect.objectContaining({ code: "invalid_arg" }));
  });
});
