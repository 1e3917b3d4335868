import { describe, expect, it } from "vitest";
import { confinedCommand, parsePasswd, permissionHint, SETPRIV } from "../../../../agent/drivers/qemu/credentials.js";

describe("the QEMU user (hypervisor.qemu_user)", () => {
  it("reads uid and gid from a passwd entry and refuses root or a garbled entry", () => {
    expect(parsePasswd("virtbus-qemu", "virtbus-qemu:x:998:997::/nonexistent:/usr/sbin/nologin\n")).toEqual({ user: "virtbus-qemu", uid: 998, gid: 997 });
    expect(() => parsePasswd("toor", "toor:x:0:0:root:/root:/bin/bash")).toThrow(/is root \(uid 0\)/);
    expect(() => parsePasswd("a", "a:x::1::/:/bin/false")).toThrow(/unexpected passwd entry for "a"/);
    expect(() => parsePasswd("a", "b:x:5:5::/:/bin/false")).toThrow(/unexpected passwd entry/);
  });

  it("execs QEMU through setpriv: the user's ids and groups, every capability set emptied, no_new_privs, QEMU's argv untouched", () => {
    const cmd = confinedCommand({ user: "q", uid: 998, gid: 997 }, "/usr/bin/qemu-system-x86_64", ["-name", "guest=a b", "--", "-S"]);
    expect(cmd.binary).toBe(SETPRIV);
    const sep = cmd.argv.indexOf("--");
    expect(cmd.argv.slice(0, sep)).toEqual(["--reuid=998", "--regid=997", "--init-groups", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs"]);
    expect(cmd.argv.slice(sep + 1)).toEqual(["/usr/bin/qemu-system-x86_64", "-name", "guest=a b", "--", "-S"]);
  });

  it("adds a hint to a permission error only when QEMU runs as another user", () => {
    const denied = "Could not open '/srv/x.img': Permission denied";
    expect(permissionHint({ user: "q", uid: 1, gid: 1 }, denied)).toMatch(/QEMU runs as user "q"/);
    expect(permissionHint(undefined, denied)).toBeUndefined();
    expect(permissionHint({ user: "q", uid: 1, gid: 1 }, "Could not open '/srv/x.img': No such file or directory")).toBeUndefined();
  });
});
