import { describe, expect, it } from "vitest";
import { findMonitors, parseOptList, splitCmdline, splitOptList, tokenize } from "../../../../agent/drivers/qemu/attach-opts.js";
import { parseMemoryKiB, parseSmp, redact } from "../../../../agent/drivers/qemu/attach-def.js";

describe("attach command-line parsing", () => {
  it("splits /proc cmdline on NUL and drops the trailing empty element", () => {
    expect(splitCmdline(["qemu", "-m", "64", ""].join("\u0000"))).toEqual(["qemu", "-m", "64"]);
  });

  it("reads a one-argument-per-line fixture the same way", () => {
    expect(splitCmdline("qemu\n-m\n64\n")).toEqual(["qemu", "-m", "64"]);
  });

  it("treats a doubled comma as a literal comma inside a value", () => {
    expect(splitOptList("file=/a,,b.img,if=virtio")).toEqual(["file=/a,b.img", "if=virtio"]);
  });

  it("reads legacy bare flags: server is on and nowait is wait=off", () => {
    const p = parseOptList("unix:/x.sock,server,nowait");
    expect(p.head).toBe("unix:/x.sock");
    expect(p.props.get("server")).toBe("on");
    expect(p.props.get("wait")).toBe("off");
  });

  it("flattens a JSON -blockdev into dotted keys", () => {
    const p = parseOptList('{"driver":"qcow2","file":{"driver":"file","filename":"/x"},"read-only":true}');
    expect(p.props.get("file.filename")).toBe("/x");
    expect(p.props.get("read-only")).toBe("on");
  });

  it("treats both -opt and --opt as the same option and a bare word as -hda", () => {
    expect(tokenize(["qemu", "--m", "64", "-S", "disk.img"])).toEqual([{ name: "m", value: "64" }, { name: "S" }, { name: "hda", value: "disk.img" }]);
  });

  it("finds a QMP monitor given as -chardev socket plus -mon mode=control", () => {
    const m = findMonitors(tokenize(["q", "-chardev", "socket,id=c,path=/run/q.sock,server=on,wait=off", "-mon", "chardev=c,mode=control"]));
    expect(m).toEqual([{ kind: "qmp", transport: "unix", address: "/run/q.sock", server: true }]);
  });

  it("reads -m in MiB by default and with K/M/G suffixes", () => {
    expect([parseMemoryKiB("64"), parseMemoryKiB("1G"), parseMemoryKiB("size=65536k"), parseMemoryKiB(undefined)]).toEqual([65536, 1048576, 65536, 131072]);
  });

  it("counts vCPUs from -smp as a number, cpus= or the topology product", () => {
    expect([parseSmp("4"), parseSmp("cpus=2,sockets=1"), parseSmp("sockets=2,cores=2,threads=2")]).toEqual([4, 2, 8]);
  });

  it("never copies secret-looking values into notes", () => {
    expect(redact("object", "secret,id=s0,data=hunter2")).not.toContain("hunter2");
    expect(redact("drive", "file=/x,password-secret=s0,key-secret=k")).toBe("file=/x,password-secret=***,key-secret=***");
  });
});
