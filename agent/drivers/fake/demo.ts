/** Demo guests of the fake driver (libvirt's test:///default has one called "test"). */
import { createHash } from "node:crypto";
import type { DomainDef } from "../../model/domain-def.js";

/** A stable uuid per demo index, so SNMP indexes and metrics stay the same across restarts. */
function demoUuid(i: number): string {
  const h = createHash("sha256").update(`virtbus-demo-${i}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function demoDomainDef(i: number): DomainDef {
  const mac = `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
  return {
    type: "qemu",
    name: `demo-${i}`,
    uuid: demoUuid(i),
    memoryKiB: 131072,
    currentMemoryKiB: 131072,
    vcpus: 1,
    os: { type: "hvm", arch: "x86_64", machine: "pc-i440fx-7.2", boot: ["hd"] },
    features: { acpi: true, apic: true },
    onPoweroff: "destroy",
    onReboot: "restart",
    onCrash: "destroy",
    devices: {
      disks: [
        {
          type: "file",
          device: "disk",
          driver: { name: "qemu", type: "qcow2" },
          source: `/var/lib/virtbus/images/demo-${i}.qcow2`,
          target: { dev: "vda", bus: "virtio" },
          readonly: false,
        },
      ],
      interfaces: [{ type: "network", source: "default", mac, model: "virtio" }],
      graphics: [],
      videos: [],
      inputs: [],
      serials: [],
      consoles: [],
      channels: [],
      memballoon: { model: "virtio", statsPeriod: 10 },
    },
  };
}
