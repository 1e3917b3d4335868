/**
 * Runs the real qemu-system-x86_64 (TCG) with argv from the golden cases and checks QEMU
 * accepts it: the first QMP command reply arrives on the monitor fd we passed in.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { buildCommand } from "../../../../agent/drivers/qemu/command.js";
import { probeQemu } from "../../../../agent/drivers/qemu/caps.js";
import type { DomainDef } from "../../../../agent/model/domain-def.js";
import { parse } from "../../../../agent/model/domain-xml.js";
import { ARGV_DIR } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "virtbus-argv-"));
let child: ChildProcess | undefined;
let server: Server | undefined;

async function stopQemu(): Promise<void> {
  if (child && child.exitCode === null) {
    const gone = new Promise((r) => child?.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  }
  child = undefined;
  if (server?.listening) server.close();
  server = undefined;
}

afterEach(stopQemu);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadCase(name: string): DomainDef {
  return parse(readFileSync(join(ARGV_DIR, `${name}.xml`), "utf8"));
}

type QmpCommand = string | { execute: string; arguments: Record<string, unknown> };

/** Sends `commands` one after another (the greeting counts as reply 0), skipping events. */
function qmpSession(path: string, commands: QmpCommand[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const replies: unknown[] = [];
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("error", reject);
    sock.on("data", (d: string) => {
      buf += d;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        if ("event" in msg) continue;
        replies.push(msg);
        const next = commands[replies.length - 1];
        if (next === undefined) {
          sock.end();
          return resolve(replies);
        }
        sock.write(`${JSON.stringify(typeof next === "string" ? { execute: next } : next)}\n`);
      }
    });
  });
}

interface RunOptions {
  secretFile?: string;
  /** QMP commands after qmp_capabilities; default query-vnc and query-status. */
  queries?: QmpCommand[];
  /** Tap fds to pretend to have: their -netdev tap is swapped for a hub port (no tap device needed). */
  fakeTaps?: number;
}

/** The argv with every `-netdev tap,id=X,fd=N` replaced by a backend that needs no host device. */
function withHubNetdevs(argv: string[]): string[] {
  return argv.map((a) => a.replace(/^tap,id=(hostnet\d+),fd=\d+$/, "hubport,id=$1,hubid=0"));
}

async function runQemu(def: DomainDef, opt: RunOptions = {}): Promise<{ replies: unknown[]; stderr: () => string }> {
  const secretFile = opt.secretFile;
  const caps = await probeQemu("qemu-system-x86_64").catch((e: unknown) => {
    throw new Error(`qemu-system-x86_64 is required (Debian package qemu-system-x86): ${String(e)}`);
  });
  // Listen on a temp name and rename: libuv unlinks the path it listened on when the server
  // closes, and the server must close right after the spawn or Node would accept our own
  // connection instead of QEMU.
  const monPath = join(dir, `${def.name}.qmp`);
  const tmpPath = `${monPath}.tmp`;
  server = createServer();
  await new Promise<void>((r) => server?.listen(tmpPath, r));
  renameSync(tmpPath, monPath);
  const monFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const secretFd = secretFile === undefined ? undefined : openSync(secretFile, "r");
  const tapFds = Object.fromEntries(Array.from({ length: opt.fakeTaps ?? 0 }, (_, i) => [i, 100 + i]));
  const ctx = { monitorFd: 3, runDir: dir, tapFds, graphicsSecretFd: secretFd === undefined ? undefined : 4 };
  const built = buildCommand(def, caps, ctx);
  const cmd = { ...built, argv: withHubNetdevs(built.argv) };
  let stderr = "";
  child = spawn(cmd.binary, cmd.argv, { stdio: ["ignore", "ignore", "pipe", monFd, ...(secretFd === undefined ? [] : [secretFd])] });
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise((r) => child?.once("spawn", r));
  server.close();
  if (secretFd !== undefined) closeSync(secretFd);
  const exited = new Promise<never>((_, rej) => child?.once("exit", (c) => rej(new Error(`QEMU exited ${c}: ${stderr}`))));
  const replies = await Promise.race([qmpSession(monPath, ["qmp_capabilities", ...(opt.queries ?? ["query-vnc", "query-status"])]), exited]);
  return { replies, stderr: () => stderr };
}

describe("real QEMU accepts the built argv", () => {
  it("starts the minimal diskless guest paused and answers qmp_capabilities", async () => {
    const { replies } = await runQemu(loadCase("minimal-diskless"));
    expect(replies[1]).toEqual({ return: {} });
    expect(replies[3]).toMatchObject({ return: { status: "prelaunch", running: false } });
  });

  it("opens a qcow2 made by qemu-img through the -blockdev pair", async () => {
    const img = join(dir, "disk,1.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "16M"]);
    const def = loadCase("virtio-disk-qcow2-cache-none");
    def.devices.disks = def.devices.disks.slice(0, 1).map((d) => ({ ...d, source: img, driver: { name: "qemu", type: "qcow2" } }));
    const { replies } = await runQemu(def);
    expect(replies[1]).toEqual({ return: {} });
  });

  it("reads the VNC password from the secret fd and turns on VNC auth", async () => {
    const secret = join(dir, "vnc.secret");
    writeFileSync(secret, "s3cr3t-pw", { mode: 0o600 });
    const def = loadCase("vnc-password");
    def.devices.graphics = def.devices.graphics.map((g) => ({ ...g, autoport: true, port: -1 }));
    const { replies } = await runQemu(def, { secretFile: secret });
    expect(replies[1]).toEqual({ return: {} });
    expect(replies[2]).toMatchObject({ return: { enabled: true, auth: "vnc", host: "127.0.0.1" } });
  });
});

/** A libvirt dumpxml fixture made runnable here: TCG, and its disks on fresh qcow2 images. */
function libvirtCase(name: string): DomainDef {
  const def = loadCase(name);
  def.type = "qemu";
  def.devices.disks = def.devices.disks.map((d, i) => {
    if (d.source === undefined) return d;
    const img = join(dir, `${name}-${i}.qcow2`);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", img, "16M"]);
    return { ...d, source: img };
  });
  return def;
}

const parentBus = (id: string): QmpCommand => ({ execute: "qom-get", arguments: { path: `/machine/peripheral/${id}`, property: "parent_bus" } });

describe("real QEMU accepts libvirt 9 dumpxml imports", () => {
  it("starts the i440fx virt-install style guest and puts each device in the slot libvirt chose", async () => {
    const { replies } = await runQemu(libvirtCase("libvirt9-i440fx-dumpxml"), { fakeTaps: 1, queries: ["query-pci", "query-status"] });
    const pci = replies[2] as { return: { devices: { slot: number; function: number; qdev_id: string }[] }[] };
    const slots = Object.fromEntries(pci.return[0]!.devices.filter((d) => d.qdev_id !== "").map((d) => [d.qdev_id, `${d.slot}.${d.function}`]));
    expect(slots).toEqual({
      usb: "1.2", video0: "2.0", net0: "3.0", sound0: "4.0", "virtio-serial0": "5.0", "disk-vda": "6.0", balloon0: "7.0", rng0: "8.0",
    });
    expect(replies[3]).toMatchObject({ return: { status: "prelaunch" } });
  });

  it("starts the q35 guest with its pcie-root-ports and a pcie-pci-bridge, devices behind the right ports", async () => {
    const ids = ["net0", "disk-vda", "sound0", "usb", "balloon0", "rng0", "pci.3"];
    const { replies } = await runQemu(libvirtCase("libvirt9-q35-dumpxml"), { fakeTaps: 1, queries: ids.map(parentBus) });
    const buses = replies.slice(2).map((r) => (r as { return: string }).return.replace(/^.*\//, ""));
    expect(buses).toEqual(["pci.2", "pci.6", "pci.3", "pci.4", "pci.7", "pci.8", "pci.1"]);
  });

  it("accepts the platform extras: cpu features and topology, timers, S3/S4 globals, AC97, watchdog, rate-limited rng", async () => {
    const def = libvirtCase("platform-extras");
    def.cpu = { ...def.cpu!, model: "qemu64", features: [{ policy: "disable", name: "svm" }] };
    const machineProp = (property: string): QmpCommand => ({ execute: "qom-get", arguments: { path: "/machine", property } });
    const qtree: QmpCommand = { execute: "human-monitor-command", arguments: { "command-line": "info qtree" } };
    const queries = ["query-cpus-fast", machineProp("hpet"), machineProp("vmport"), qtree];
    const { replies } = await runQemu(def, { fakeTaps: 1, queries });
    const cpus = (replies[2] as { return: { props: { "core-id": number; "thread-id": number } }[] }).return;
    expect(cpus.map((c) => `${c.props["core-id"]}/${c.props["thread-id"]}`)).toEqual(["0/0", "0/1", "1/0", "1/1"]);
    expect(replies.slice(3, 5)).toEqual([{ return: false }, { return: "off" }]);
    const tree = (replies[5] as { return: string }).return;
    // <pm> suspend-to-mem yes, suspend-to-disk no reached the PIIX4 ACPI PM device.
    expect(tree).toMatch(/dev: PIIX4_PM[\s\S]*?disable_s3 = 0[\s\S]*?disable_s4 = 1/);
    expect(tree).toMatch(/dev: virtio-rng-pci[\s\S]*?max-bytes = 1024[\s\S]*?period = 1000/);
  });

  it("accepts a pci-bridge on i440fx with a device behind it and explicit virtio-serial ports", async () => {
    const { replies } = await runQemu(libvirtCase("pci-bridge-pc"), { queries: [parentBus("balloon0"), parentBus("channel0")] });
    expect((replies[2] as { return: string }).return).toMatch(/pci\.1$/);
    expect((replies[3] as { return: string }).return).toMatch(/virtio-serial0\.0$/);
  });

  it("gives a virtio console its own pty next to the serial console's", async () => {
    const { replies } = await runQemu(libvirtCase("virtio-console"), { queries: ["query-chardev"] });
    const chardevs = (replies[2] as { return: { label: string; filename: string }[] }).return;
    const ptys = chardevs.filter((c) => c.filename.startsWith("pty:")).map((c) => c.label).sort();
    expect(ptys).toEqual(["charconsole0", "charserial0"]);
  });

  it("opens qcow2 images with aio=native under O_DIRECT, aio=threads, discard and detect-zeroes", async () => {
    const { replies } = await runQemu(libvirtCase("disk-io-detect-zeroes"), { fakeTaps: 1, queries: ["query-block"] });
    const block = (replies[2] as { return: { qdev: string; inserted: { detect_zeroes: string; cache: { direct: boolean } } }[] }).return;
    const got = block.map((b) => `${b.qdev}:${b.inserted.detect_zeroes}:${b.inserted.cache.direct}`).sort();
    expect(got).toEqual(["/machine/peripheral/disk-vda/virtio-backend:unmap:true", "/machine/peripheral/disk-vdb/virtio-backend:on:false"]);
  });

  it("starts the virt-install style q35 guest (xhci ports, aio=native, topology, watchdog behind a pcie-pci-bridge)", async () => {
    const def = libvirtCase("libvirt9-q35-virtinst-dumpxml");
    // host-passthrough needs KVM; 'maximum' keeps the migratable flag on the -cpu line under TCG.
    def.cpu = { ...def.cpu!, mode: "maximum" };
    const { replies } = await runQemu(def, { fakeTaps: 1, queries: [parentBus("watchdog0"), parentBus("usb"), "query-cpus-fast"] });
    expect(replies.slice(2, 4).map((r) => (r as { return: string }).return.replace(/^.*\//, ""))).toEqual(["pci.8", "pci.3"]);
    expect((replies[4] as { return: unknown[] }).return).toHaveLength(4);
  });

  it("sizes the qxl and bochs video memory from the XML", async () => {
    const qtree: QmpCommand = { execute: "human-monitor-command", arguments: { "command-line": "info qtree" } };
    const qxl = (await runQemu(libvirtCase("qxl-sizes"), { queries: [qtree] })).replies[2] as { return: string };
    expect(qxl.return).toMatch(/dev: qxl-vga[\s\S]*?ram_size = 67108864[\s\S]*?vram_size = 33554432/);
    expect(qxl.return).toMatch(/dev: qxl-vga[\s\S]*?vgamem_mb = 16/);
    await stopQemu();
    const bochs = (await runQemu(libvirtCase("bochs-vram"), { queries: [qtree] })).replies[2] as { return: string };
    expect(bochs.return).toMatch(/dev: bochs-display[\s\S]*?vgamem = 8388608/);
  });

  it("boots UEFI with secure boot: OVMF code read-only on pflash0, a copy of the vars on pflash1, SMM on", async () => {
    const code = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd";
    const template = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
    if (!existsSync(code) || !existsSync(template)) throw new Error(`${code} is required (Debian package ovmf)`);
    const def = libvirtCase("libvirt9-q35-uefi-secure-dumpxml");
    const vars = join(dir, "uefi_VARS.fd");
    copyFileSync(template, vars);
    def.os = { ...def.os, nvram: { path: vars, template } };
    const smm: QmpCommand = { execute: "qom-get", arguments: { path: "/machine", property: "smm" } };
    const { replies } = await runQemu(def, { queries: ["query-named-block-nodes", smm] });
    const nodes = (replies[2] as { return: { "node-name": string; ro: boolean; file: string }[] }).return;
    const flash = nodes.filter((n) => n["node-name"].endsWith("-format")).map((n) => `${n["node-name"]}:${n.ro}:${n.file}`).sort();
    expect(flash).toEqual([`pflash0-format:true:${code}`, `pflash1-format:false:${vars}`]);
    expect(replies[3]).toEqual({ return: "on" });
  });

  it("starts the virt-manager style spice guest: spice audio, the vdagent channel and two USB redirection ports", async () => {
    const def = libvirtCase("libvirt9-q35-spice-dumpxml");
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = (free.address() as { port: number }).port;
    await new Promise((r) => free.close(r));
    def.devices.graphics = def.devices.graphics.map((g) => ({ ...g, port }));
    const { replies } = await runQemu(def, { queries: ["query-spice", "query-chardev", parentBus("redir1")] });
    expect(replies[2]).toMatchObject({ return: { enabled: true, port } });
    const labels = (replies[3] as { return: { label: string; filename: string }[] }).return.map((c) => `${c.label}=${c.filename}`);
    expect(labels).toEqual(expect.arrayContaining(["charchannel0=spicevmc", "charredir0=spicevmc", "charredir1=spicevmc"]));
    expect((replies[4] as { return: string }).return).toMatch(/usb\.0$/);
  });
});
