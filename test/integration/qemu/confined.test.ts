import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { EventBus } from "../../../agent/core/bus.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { privateDir } from "../../../agent/drivers/qemu/start.js";
import { QEMU_BINARY } from "./helpers.js";
import { useOpenDriver } from "./open-driver.js";

/** Debian's unprivileged user: uid/gid 65534 (nobody/nogroup), on every host. */
const USER = "nobody";
const NOBODY = 65534;

/** /proc/PID/status fields of interest. */
function creds(pid: number): Record<string, string> {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Object.fromEntries(status.split("\n").filter((l) => /^(Uid|Gid|Groups|Cap\w+|NoNewPrivs):/.test(l)).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
}

describe("QEMU as an unprivileged user (hypervisor.qemu_user, real QEMU)", () => {
  const t = useOpenDriver("vb-confined-", { qemuUser: USER });
  // Files the domain names live where the user can reach them, as an operator's image directory would.
  const images = mkdtempSync(join(tmpdir(), "vb-confined-img-"));
  chmodSync(images, 0o755);
  afterAll(() => rmSync(images, { recursive: true, force: true }));

  it("runs as the user with its own groups, no capabilities and no_new_privs; nvram, channel sockets and the VNC password are handed in", async () => {
    const disk = join(images, "disk.img");
    writeFileSync(disk, Buffer.alloc(1 << 20));
    chownSync(disk, NOBODY, NOBODY);
    const xml = `<domain type='qemu'><name>confined</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader></os>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
        <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
        <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='s3cret'/>
      </devices></domain>`;
    const { view } = await t.fx.driver.defineDomain(xml);
    const run = await t.fx.driver.startDomain(view.uuid);
    t.pids.add(run.pid);
    expect(run.state).toBe("running");
    const c = creds(run.pid!);
    expect(c["Uid"]).toBe(`${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`);
    expect(c["Gid"]).toBe(`${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`);
    expect(c["Groups"]).toBe(String(NOBODY)); // its own groups (initgroups), not root's
    for (const cap of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) expect(c[cap], cap).toBe("0000000000000000");
    expect(c["NoNewPrivs"]).toBe("1");
    expect(readlinkSync(`/proc/${run.pid!}/exe`)).toBe(QEMU_BINARY); // setpriv exec'ed QEMU in place
    const open = readdirSync(`/proc/${run.pid!}/fd`).map((fd) => readlinkSync(`/proc/${run.pid!}/fd/${fd}`));
    expect(open).toContain(disk); // opened by QEMU itself, with the user's rights
    expect(open).toContain(view.def.os.nvram!.path); // in the agent's 0700 state dir: handed in
    // The guest agent's socket is in the agent's private directory, which the user cannot
    // enter: the agent listens there and QEMU serves the inherited socket.
    const sock = join(privateDir(t.dirs.runDir, view.uuid), "channel.org.qemu.guest_agent.0.sock");
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(sock, () => {
        s.destroy();
        resolve();
      });
      s.once("error", reject);
    });
    await t.fx.driver.destroyDomain(view.uuid);
  });

  it("a file the user cannot read fails the start with QEMU's words, the user and what it needs", async () => {
    const secret = join(images, "root-only.img");
    writeFileSync(secret, Buffer.alloc(1 << 20));
    chmodSync(secret, 0o600); // root's, as /etc/shadow is
    const xml = `<domain type='qemu'><name>confined-denied</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${secret}'/><target dev='vda' bus='virtio'/><readonly/></disk></devices></domain>`;
    const { view } = await t.fx.driver.defineDomain(xml);
    await expect(t.fx.driver.startDomain(view.uuid)).rejects.toMatchObject({
      code: "operation_failed",
      message: expect.stringMatching(new RegExp(`${secret}.*Permission denied.*QEMU runs as user "nobody" \\(hypervisor\\.qemu_user\\): every file the domain names must be readable by it`, "s")),
    });
    expect(t.fx.store.getDomain(view.uuid)?.state).toBe("shutoff");
  });

  it("refuses to open with a user that does not exist, saying how to create it", async () => {
    const driver = new QemuDriver({ store: new StateStore(), bus: new EventBus(), log: silentLogger(), stateDir: join(t.dirs.root, "s2"), runDir: join(t.dirs.root, "r2"), qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000, qemuUser: "vb-no-such-user" });
    await expect(driver.open()).rejects.toMatchObject({ code: "invalid_arg", message: expect.stringMatching(/hypervisor\.qemu_user "vb-no-such-user" does not exist; create it with: useradd --system/) });
    await driver.close();
  });
});
