import { describe, expect, it } from "vitest";
import { MAX_VCPUS } from "../../../agent/model/domain-def.js";
import type { DomainDef } from "../../../agent/model/domain-def.js";
import { validateDomainDef } from "../../../agent/model/domain-validate.js";
import { AgentError } from "../../../agent/model/errors.js";
import { bytesToUuid, canonicalUuid, uuidToBytes } from "../../../agent/model/uuid.js";

function baseDef(): DomainDef {
  return {
    type: "kvm",
    name: "vm1",
    uuid: "0b7a3f6e-5d1c-4a8e-9f2b-6c3d1e8a7b90",
    memoryKiB: 262144,
    currentMemoryKiB: 262144,
    vcpus: 2,
    os: { type: "hvm", arch: "x86_64", boot: [] },
    features: { acpi: true, apic: true },
    onPoweroff: "destroy",
    onReboot: "restart",
    onCrash: "destroy",
    devices: {
      emulator: "/usr/bin/qemu-system-x86_64",
      disks: [
        {
          type: "file",
          device: "disk",
          driver: { name: "qemu", type: "qcow2" },
          source: "/var/lib/virtbus/vm1.qcow2",
          target: { dev: "vda", bus: "virtio" },
          readonly: false,
        },
      ],
      interfaces: [{ type: "network", source: "default", mac: "52:54:00:00:00:01", model: "virtio" }],
      graphics: [{ type: "vnc", port: -1, autoport: true, listen: "127.0.0.1" }],
      videos: [],
      inputs: [],
      serials: [],
      consoles: [],
      channels: [],
    },
  };
}

/** Applies `change` to a fresh valid definition and returns the validation error message. */
function rejection(change: (d: DomainDef) => void): string {
  const def = baseDef();
  change(def);
  try {
    validateDomainDef(def);
  } catch (e) {
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).code).toBe("invalid_arg");
    return (e as AgentError).message;
  }
  throw new Error("validateDomainDef accepted the definition");
}

function accepts(change: (d: DomainDef) => void): void {
  const def = baseDef();
  change(def);
  expect(() => validateDomainDef(def)).not.toThrow();
}

describe("validateDomainDef", () => {
  it("accepts a typical valid definition", () => accepts(() => {}));

  it("accepts names of 1 and 64 allowed characters and rejects 65", () => {
    accepts((d) => (d.name = "a"));
    accepts((d) => (d.name = `A_b.c+d-${"x".repeat(56)}`));
    expect(rejection((d) => (d.name = "x".repeat(65)))).toContain("invalid domain name");
  });

  it.each(["-lead", ".hidden", "has space", "slash/name", "", "ümlaut"])("rejects the domain name %j", (name) => {
    expect(rejection((d) => (d.name = name))).toContain("invalid domain name");
  });

  it("rejects an empty, upper-case or malformed uuid", () => {
    expect(rejection((d) => (d.uuid = ""))).toContain("invalid uuid");
    expect(rejection((d) => (d.uuid = d.uuid.toUpperCase()))).toContain("invalid uuid");
    expect(rejection((d) => (d.uuid = "0b7a3f6e5d1c4a8e9f2b6c3d1e8a7b90"))).toContain("invalid uuid");
  });

  it("rejects zero memory and a currentMemory above memory", () => {
    expect(rejection((d) => (d.memoryKiB = 0))).toContain("memory must be greater than 0");
    expect(rejection((d) => (d.currentMemoryKiB = d.memoryKiB + 1))).toContain("exceeds memory");
  });

  it("accepts 1 and MAX_VCPUS vcpus and rejects 0 and MAX_VCPUS + 1", () => {
    accepts((d) => (d.vcpus = 1));
    accepts((d) => (d.vcpus = MAX_VCPUS));
    expect(rejection((d) => (d.vcpus = 0))).toContain("vcpu count 0");
    expect(rejection((d) => (d.vcpus = MAX_VCPUS + 1))).toContain(`vcpu count ${MAX_VCPUS + 1}`);
  });

  it("rejects two disks with the same target dev", () => {
    expect(rejection((d) => d.devices.disks.push({ ...d.devices.disks[0]!, source: "/b.img" }))).toContain("duplicate disk target 'vda'");
  });

  it("rejects a disk without a source but accepts an empty cdrom and a block cdrom", () => {
    expect(rejection((d) => delete d.devices.disks[0]!.source)).toContain("has no source");
    const cdrom = { type: "block", device: "cdrom", driver: { name: "qemu", type: "raw" }, target: { dev: "sda", bus: "sata" }, readonly: true } as const;
    accepts((d) => d.devices.disks.push({ ...cdrom }));
    accepts((d) => d.devices.disks.push({ ...cdrom, source: "/dev/sr0" }));
  });

  it.each([
    ["disk source", (d: DomainDef) => (d.devices.disks[0]!.source = "vm1.qcow2")],
    ["kernel", (d: DomainDef) => (d.os.kernel = "./vmlinuz")],
    ["initrd", (d: DomainDef) => Object.assign(d.os, { kernel: "/boot/vmlinuz", initrd: "initrd.img" })],
    ["emulator", (d: DomainDef) => (d.devices.emulator = "qemu-system-x86_64")],
    ["serial file", (d: DomainDef) => d.devices.serials.push({ type: "file", path: "log/ttyS0", targetPort: 0 })],
    ["channel socket", (d: DomainDef) => d.devices.channels.push({ type: "unix", path: "qga.sock", targetName: "org.qemu.guest_agent.0" })],
  ])("rejects a relative %s path", (_what, change) => {
    expect(rejection(change)).toContain("must be absolute");
  });

  it("rejects initrd or cmdline without a kernel", () => {
    expect(rejection((d) => (d.os.initrd = "/boot/initrd.img"))).toContain("require a kernel");
    expect(rejection((d) => (d.os.cmdline = "console=ttyS0"))).toContain("require a kernel");
  });

  it.each([
    ["01:00:5e:00:00:01", "multicast bit set"],
    ["ff:ff:ff:ff:ff:ff", "multicast bit set"],
    ["52:54:00:00:00", "expected six hex octets"],
    ["52:54:00:00:00:0g", "expected six hex octets"],
    ["00:00:00:00:00:00", "invalid MAC address"],
  ])("rejects the MAC address %s", (mac, message) => {
    expect(rejection((d) => (d.devices.interfaces[0]!.mac = mac))).toContain(message);
  });

  it("rejects two interfaces with the same MAC", () => {
    expect(rejection((d) => d.devices.interfaces.push({ ...d.devices.interfaces[0]! }))).toContain("duplicate MAC address");
  });

  it("rejects managed='no' on anything but an ethernet interface, and accepts it there", () => {
    expect(rejection((d) => (d.devices.interfaces[0]!.target = { dev: "tap0", managed: false }))).toContain("only valid for type 'ethernet'");
    accepts((d) => (d.devices.interfaces[0] = { type: "ethernet", model: "virtio", target: { dev: "tap0", managed: false } }));
  });

  it("rejects duplicate per-device boot orders and mixing them with <os><boot>", () => {
    expect(
      rejection((d) => {
        d.devices.disks[0]!.bootOrder = 1;
        d.devices.interfaces[0]!.bootOrder = 1;
      }),
    ).toContain("duplicate boot order '1'");
    expect(
      rejection((d) => {
        d.devices.disks[0]!.bootOrder = 1;
        d.os.boot = ["hd"];
      }),
    ).toContain("cannot be combined");
  });

  it("accepts VNC ports 5900..65535 and SPICE from 1, and rejects ports outside", () => {
    accepts((d) => Object.assign(d.devices.graphics[0]!, { autoport: false, port: 5900 }));
    accepts((d) => Object.assign(d.devices.graphics[0]!, { autoport: false, port: 65535 }));
    accepts((d) => Object.assign(d.devices.graphics[0]!, { type: "spice", autoport: false, port: 1 }));
    expect(rejection((d) => Object.assign(d.devices.graphics[0]!, { autoport: false, port: 5899 }))).toContain("out of range");
    expect(rejection((d) => Object.assign(d.devices.graphics[0]!, { autoport: false, port: 65536 }))).toContain("out of range");
    expect(rejection((d) => Object.assign(d.devices.graphics[0]!, { autoport: true, port: 5901 }))).toContain("autoport requires port -1");
  });

  it("accepts IPv4 and IPv6 listen addresses and rejects host names", () => {
    accepts((d) => (d.devices.graphics[0]!.listen = "::"));
    accepts((d) => (d.devices.graphics[0]!.listen = "fe80::1"));
    expect(rejection((d) => (d.devices.graphics[0]!.listen = "localhost"))).toContain("is not an IP address");
    expect(rejection((d) => (d.devices.graphics[0]!.listen = "256.0.0.1"))).toContain("is not an IP address");
  });

  it("rejects two devices at the same PCI address and a drive address on a virtio disk", () => {
    const a = { domain: 0, bus: 0, slot: 3, function: 0 };
    expect(
      rejection((d) => {
        d.devices.disks[0]!.address = { ...a };
        d.devices.interfaces[0]!.address = { ...a };
      }),
    ).toContain("duplicate PCI address '0000:00:03.0'");
    expect(rejection((d) => (d.devices.disks[0]!.address = { controller: 0, bus: 0, target: 0, unit: 0 }))).toContain("does not fit bus");
  });

  it("rejects two controllers of the same type and index", () => {
    expect(rejection((d) => (d.devices.controllers = [{ type: "usb", index: 0 }, { type: "usb", index: 0, model: "qemu-xhci" }]))).toContain(
      "duplicate controller 'usb index 0'",
    );
  });

  it("rejects a cdrom on the virtio bus", () => {
    expect(rejection((d) => (d.devices.disks[0]!.device = "cdrom"))).toContain("cdrom cannot be on the virtio bus");
  });
});

describe("validateDomainDef on the libvirt import extras", () => {
  it("accepts a cpu topology that multiplies out to the vcpu count and rejects one that does not", () => {
    accepts((d) => (d.cpu = { mode: "maximum", topology: { sockets: 1, dies: 1, cores: 2, threads: 1 } }));
    expect(rejection((d) => (d.cpu = { mode: "maximum", topology: { sockets: 2, dies: 1, cores: 2, threads: 1 } }))).toContain("does not give 2 vcpus");
  });

  it("rejects a duplicate or malformed cpu feature name", () => {
    const f = (name: string) => ({ policy: "require" as const, name });
    expect(rejection((d) => (d.cpu = { mode: "custom", model: "qemu64", features: [f("vmx"), f("vmx")] }))).toContain("duplicate cpu feature");
    expect(rejection((d) => (d.cpu = { mode: "custom", model: "qemu64", features: [f("vmx,evil=on")] }))).toContain("invalid cpu feature name");
  });

  it("allows migratable only with host-passthrough or maximum", () => {
    accepts((d) => (d.cpu = { mode: "host-passthrough", migratable: true }));
    expect(rejection((d) => (d.cpu = { mode: "custom", model: "qemu64", migratable: false }))).toContain("migratable");
  });

  it("requires O_DIRECT caching for io='native' and discard unmap for detect_zeroes unmap", () => {
    const disk = (d: DomainDef) => d.devices.disks[0]!;
    accepts((d) => (disk(d).driver = { name: "qemu", type: "qcow2", cache: "none", io: "native" }));
    expect(rejection((d) => (disk(d).driver = { name: "qemu", type: "qcow2", cache: "writeback", io: "native" }))).toContain("io='native'");
    expect(rejection((d) => (disk(d).driver = { name: "qemu", type: "qcow2", detectZeroes: "unmap" }))).toContain("detect_zeroes");
  });

  it("rejects a sound card naming a missing audio backend and two audios with one id", () => {
    expect(rejection((d) => (d.devices.sounds = [{ model: "ich9", audioId: 3 }]))).toContain("missing <audio id='3'>");
    expect(rejection((d) => (d.devices.audios = [{ id: 1, type: "none" }, { id: 1, type: "none" }]))).toContain("duplicate audio id");
  });

  it("rejects a USB address on a PS/2 input and two channels on one virtio-serial port", () => {
    expect(rejection((d) => (d.devices.inputs = [{ type: "mouse", bus: "ps2", address: { bus: 0, port: "1" } }]))).toContain("cannot have a USB address");
    const ch = (name: string) => ({ type: "unix" as const, targetName: name, address: { controller: 0, bus: 0, port: 2 } });
    expect(rejection((d) => (d.devices.channels = [ch("a.0"), ch("b.0")]))).toContain("duplicate virtio-serial address");
  });

  it("rejects spice audio, a spicevmc channel or USB redirection without spice graphics, and a misnamed spicevmc channel", () => {
    expect(rejection((d) => (d.devices.audios = [{ id: 1, type: "spice" }]))).toContain("need <graphics type='spice'>");
    expect(rejection((d) => (d.devices.redirdevs = [{ bus: "usb", type: "spicevmc" }]))).toContain("need <graphics type='spice'>");
    const spice = (d: DomainDef) => (d.devices.graphics = [{ type: "spice", port: 5930, autoport: false, listen: "127.0.0.1" }]);
    accepts((d) => (spice(d), (d.devices.channels = [{ type: "spicevmc", targetName: "com.redhat.spice.0" }])));
    expect(rejection((d) => (spice(d), (d.devices.channels = [{ type: "spicevmc", targetName: "org.x.0" }])))).toContain("com.redhat.spice.0");
  });

  it("rejects two devices on the same bus/slot/function, including the new sound, rng and watchdog", () => {
    const a = { domain: 0, bus: 1, slot: 0, function: 0 };
    expect(rejection((d) => {
      d.devices.rngs = [{ model: "virtio", backend: "/dev/urandom", address: a }];
      d.devices.watchdogs = [{ model: "i6300esb", action: "reset", address: a }];
    })).toContain("duplicate PCI address '0000:01:00.0'");
  });
});

describe("uuid helpers", () => {
  it("canonicalises upper-case and dash-less uuids and rejects misplaced dashes", () => {
    expect(canonicalUuid("0B7A3F6E5D1C4A8E9F2B6C3D1E8A7B90")).toBe("0b7a3f6e-5d1c-4a8e-9f2b-6c3d1e8a7b90");
    expect(canonicalUuid("0b7a3f6e5d1c-4a8e-9f2b-6c3d1e8a7b90")).toBeUndefined();
    expect(canonicalUuid("not-a-uuid")).toBeUndefined();
  });

  it("converts a uuid to its 16 octets and back", () => {
    const u = "0b7a3f6e-5d1c-4a8e-9f2b-6c3d1e8a7b90";
    const b = uuidToBytes(u);
    expect(b).toHaveLength(16);
    expect(b[0]).toBe(0x0b);
    expect(b[15]).toBe(0x90);
    expect(bytesToUuid(b)).toBe(u);
  });
});
