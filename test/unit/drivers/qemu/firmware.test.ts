import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureNvram, FIRMWARE_DIRS, loadDescriptors, resolveFirmware } from "../../../../agent/drivers/qemu/firmware.js";
import type { DomainDef } from "../../../../agent/model/domain-def.js";
import { parse } from "../../../../agent/model/domain-xml.js";

/** Debian's ovmf package installs these; the tests read the real ones (DESIGN.md §7). */
const DEBIAN = FIRMWARE_DIRS[0]!;
function requireOvmf(): void {
  if (!existsSync(join(DEBIAN, "60-edk2-x86_64.json"))) throw new Error(`${DEBIAN}/60-edk2-x86_64.json is required (Debian package ovmf)`);
}

const efiGuest = (machine: string, features = ""): DomainDef =>
  parse(`<domain type='qemu'><name>efi-${machine}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <os firmware='efi'><type arch='x86_64' machine='${machine}'>hvm</type></os><features><acpi/>${features}</features></domain>`);

const tmp = (): string => mkdtempSync(join(tmpdir(), "vb-fw-"));

describe("UEFI firmware from QEMU's descriptors", () => {
  it("picks Debian's plain OVMF for i440fx, and the secure-boot build with MS keys and SMM for q35, as libvirt does", async () => {
    requireOvmf();
    const descs = await loadDescriptors();
    const pc = resolveFirmware(efiGuest("pc-i440fx-7.2"), descs, "/nv");
    expect(pc.os.loader).toEqual({ path: "/usr/share/OVMF/OVMF_CODE_4M.fd", readonly: true, type: "pflash" });
    expect(pc.os.nvram).toEqual({ path: "/nv/efi-pc-i440fx-7.2_VARS.fd", template: "/usr/share/OVMF/OVMF_VARS_4M.fd" });
    const q35 = resolveFirmware(efiGuest("pc-q35-7.2"), descs, "/nv");
    expect(q35.os.loader).toEqual({ path: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", readonly: true, type: "pflash", secure: true });
    expect(q35.os.nvram?.template).toBe("/usr/share/OVMF/OVMF_VARS_4M.ms.fd");
    expect(q35.features.smm).toBe(true);
    // SMM turned off by the guest: firmware that needs it is passed over
    const noSmm = resolveFirmware(efiGuest("pc-q35-7.2", "<smm state='off'/>"), descs, "/nv");
    expect(noSmm.os.loader?.path).toBe("/usr/share/OVMF/OVMF_CODE_4M.fd");
    expect(noSmm.os.loader?.secure).toBeUndefined();
  });

  it("a file of the same name in the override directory replaces the packaged one, an empty one hides it, a broken one is skipped", async () => {
    requireOvmf();
    const etc = tmp();
    writeFileSync(join(etc, "40-edk2-x86_64-secure-enrolled.json"), "");
    writeFileSync(join(etc, "10-broken.json"), "{ not json");
    const descs = await loadDescriptors([DEBIAN, etc]);
    expect(descs.map((d) => d.file)).toEqual(["50-edk2-x86_64-secure.json", "60-edk2-x86_64.json"]);
    const q35 = resolveFirmware(efiGuest("pc-q35-7.2"), descs, "/nv");
    expect(q35.os.loader?.path).toBe("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"); // secure, no keys enrolled
  });

  it("refuses what no descriptor fits, and a loader without nvram whose template nobody names", async () => {
    requireOvmf();
    const descs = await loadDescriptors();
    expect(() => resolveFirmware(efiGuest("pc-q35-7.2"), [], "/nv")).toThrow(/no UEFI firmware descriptor .* fits arch x86_64, machine pc-q35-7.2 \(install Debian package ovmf/);
    // the directories named are those the descriptors came from, not the defaults
    expect(() => resolveFirmware(efiGuest("pc-q35-7.2"), [], "/nv", ["/srv/fw"])).toThrow(/no UEFI firmware descriptor in \/srv\/fw fits/);
    const known = parse(`<domain type='qemu'><name>l</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
      <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader></os></domain>`);
    expect(resolveFirmware(known, descs, "/nv").os.nvram).toEqual({ path: "/nv/l_VARS.fd", template: "/usr/share/OVMF/OVMF_VARS_4M.fd" });
    // a template the agent would copy with its own rights must be a known variable store
    const sneaky = { ...known, os: { ...known.os, nvram: { path: "/nv/x.fd", template: "/etc/shadow" } } };
    expect(() => resolveFirmware(sneaky, descs, "/nv")).toThrow(/not a UEFI variable store template named by a firmware descriptor/);
    const unknown = { ...known, os: { ...known.os, loader: { ...known.os.loader!, path: "/opt/custom/CODE.fd" } } };
    expect(() => resolveFirmware(unknown, descs, "/nv")).toThrow(/\/opt\/custom\/CODE.fd<\/loader> without <nvram>/);
  });

  it("creates a missing variable store from its template (0600) and never overwrites an existing one", async () => {
    requireOvmf();
    const dir = tmp();
    const def = resolveFirmware(efiGuest("pc-i440fx-7.2"), await loadDescriptors(), join(dir, "nvram"));
    const path = def.os.nvram!.path;
    await ensureNvram(def);
    expect(readFileSync(path).equals(readFileSync("/usr/share/OVMF/OVMF_VARS_4M.fd"))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    writeFileSync(path, "the guest's own boot entries");
    await ensureNvram(def);
    expect(readFileSync(path, "utf8")).toBe("the guest's own boot entries");
    const noTemplate = { ...def, os: { ...def.os, nvram: { path: join(dir, "absent.fd") } } };
    await expect(ensureNvram(noTemplate)).rejects.toMatchObject({ code: "invalid_arg", message: expect.stringContaining("names no template") });
  });
});
