import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useOpenDriver } from "./open-driver.js";

const FIXTURE = join(import.meta.dirname, "../../fixtures/domain-xml/ok-libvirt9-firmware-efi-autoselect.xml");

describe("UEFI guests defined as libvirt 9 writes them: <os firmware='efi'> without a loader (real QEMU)", () => {
  const t = useOpenDriver("vb-uefi-");

  it("resolves OVMF from the installed descriptors at define, creates the variable store at start and boots with both flashes", async () => {
    // libvirt's own inactive XML of a virt-install UEFI q35 guest, run here under TCG
    const xml = readFileSync(FIXTURE, "utf8").replace("type='kvm'", "type='qemu'");
    const { view } = await t.fx.driver.defineDomain(xml);
    const nvram = join(t.dirs.stateDir, "nvram", "vb-h12-efi_VARS.fd");
    expect(view.def.os).toMatchObject({
      firmware: "efi",
      loader: { path: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", readonly: true, type: "pflash", secure: true },
      nvram: { path: nvram, template: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd" },
    });
    expect(view.def.features.smm).toBe(true);
    const run = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(run.pid);
    expect(run.state).toBe("running");
    expect(statSync(nvram).mode & 0o777).toBe(0o600);
    const argv = readFileSync(`/proc/${run.pid!}/cmdline`, "utf8").split("\0");
    expect(argv.some((a) => a.includes("/usr/share/OVMF/OVMF_CODE_4M.ms.fd"))).toBe(true);
    expect(argv.some((a) => a.includes(nvram))).toBe(true);
    await t.fx.driver.destroyDomain(view.uuid);
    // the store is the guest's: a second start uses the same file, not a fresh copy
    const ino = statSync(nvram).ino;
    const again = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(again.pid);
    expect(statSync(nvram).ino).toBe(ino);
    await t.fx.driver.destroyDomain(view.uuid);
  });
});
