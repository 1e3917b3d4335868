import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
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
    // The store is in the agent's state directory: QEMU gets it opened read-write as fd set 1.
    expect(argv.some((a) => a.includes(nvram))).toBe(false);
    expect(argv).toContain("driver=file,filename=/dev/fdset/1,node-name=pflash1-storage,read-only=off");
    expect(openReadWrite(run.pid!)).toContain(nvram);
    await t.fx.driver.destroyDomain(view.uuid);
    // the store is the guest's: a second start uses the same file, not a fresh copy
    const ino = statSync(nvram).ino;
    const again = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(again.pid);
    expect(statSync(nvram).ino).toBe(ino);
    await t.fx.driver.destroyDomain(view.uuid);
  });

  it("undefine wants a choice for an existing variable store, as libvirt does: keep leaves it, remove deletes it", async () => {
    const xml = readFileSync(FIXTURE, "utf8").replace("type='kvm'", "type='qemu'");
    const { view } = await t.fx.driver.defineDomain(xml);
    const nvram = view.def.os.nvram!.path;
    const run = await t.fx.driver.startDomain(view.uuid); // creates the store
    t.pids.add(run.pid);
    await t.fx.driver.destroyDomain(view.uuid);
    expect(existsSync(nvram)).toBe(true);
    await expect(t.fx.driver.undefineDomain(view.uuid)).rejects.toMatchObject({ code: "operation_invalid", message: expect.stringMatching(/has a UEFI variable store \(.*_VARS\.fd\).*--nvram \/ --keep-nvram/) });
    expect(t.fx.store.getDomain(view.uuid)?.persistent).toBe(true); // refused: still defined
    await t.fx.driver.undefineDomain(view.uuid, { nvram: "keep" });
    expect(t.fx.store.getDomain(view.uuid)).toBeUndefined();
    expect(existsSync(nvram)).toBe(true);
    const again = await t.fx.driver.defineDomain(xml); // the kept store is the guest's again
    await t.fx.driver.undefineDomain(again.view.uuid, { nvram: "remove" });
    expect(existsSync(nvram)).toBe(false);
  });

  it("undefine never deletes a variable store outside the agent's nvram directory", async () => {
    const elsewhere = join(t.dirs.root, "elsewhere_VARS.fd");
    writeFileSync(elsewhere, "vars");
    const xml = `<domain type='qemu'><name>uefi-elsewhere</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
      <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>${elsewhere}</nvram></os></domain>`;
    const { view } = await t.fx.driver.defineDomain(xml);
    await expect(t.fx.driver.undefineDomain(view.uuid, { nvram: "remove" })).rejects.toThrow(/is not in .*nvram.*undefine with nvram "keep"/);
    expect(existsSync(elsewhere)).toBe(true);
    await t.fx.driver.undefineDomain(view.uuid, { nvram: "keep" });
    expect(existsSync(elsewhere)).toBe(true);
  });
});

/** Files a process holds open read-write (O_RDWR), from /proc/PID/fd and fdinfo. */
function openReadWrite(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1];
    const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    return flags !== undefined && (Number.parseInt(flags, 8) & 3) === 2 ? [target] : [];
  });
}
