import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../../agent/cli.js";
import { ERROR_TABLE } from "../../../agent/model/errors.js";
import { startAgentProcess, type AgentProcess } from "../../helpers/agent-process.js";

const GUEST_XML = `<domain type='qemu'>
  <name>cli-guest</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;

describe("virtbus CLI against a running agent (fake driver)", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess({ hypervisor: { driver: "fake", fake_domains: 2 } });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("list --all prints virsh's table with running and shut-off guests", async () => {
    const r = await agent.cli(["list", "--all"]);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^\s*Id\s+Name\s+State$/);
    expect(lines).toContainEqual(expect.stringMatching(/^\s*1\s+demo-1\s+running$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\s*-\s+demo-2\s+shut off$/));
  });

  it("send-key prints nothing on success, as virsh does (not an empty line)", async () => {
    const out: string[] = [];
    await buildProgram((line) => out.push(line)).parseAsync(["node", "virtbus", "--socket", agent.socket, "send-key", "demo-1", "KEY_LEFTSHIFT"]);
    expect(out).toEqual([]);
  });

  it("--json prints machine-readable results", async () => {
    const r = await agent.cli(["--json", "dominfo", "demo-1"]);
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ name: "demo-1", state: "running", reason: "booted", vcpus: 1, max_memory_kib: 131072 });
  });

  it("an error prints its code and exits with that code's number", async () => {
    const r = await agent.cli(["destroy", "demo-2"]);
    expect(r.exitCode).toBe(ERROR_TABLE.operation_invalid.exit);
    expect(r.stderr).toMatch(/not running.*\[operation_invalid\]/);
    const missing = await agent.cli(["dominfo", "ghost"]);
    expect(missing.exitCode).toBe(ERROR_TABLE["domain.not_found"].exit);
  });

  it("version and ping report the running agent", async () => {
    const v = await agent.cli(["version"]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toMatch(/Running agent:\s+virtbus \d+\.\d+\.\d+ on \S+ \(fake driver/);
    expect(v.stdout).toContain("Guests:               1 active of 2");
    const p = JSON.parse((await agent.cli(["--json", "ping"])).stdout);
    expect(p.host).toBeTruthy();
    expect(p.rtt_ms).toBeGreaterThan(0);
  });

  it("define, start, domstate --reason, dumpxml and undefine work end to end", async () => {
    const file = join(agent.dir, "guest.xml");
    writeFileSync(file, GUEST_XML);
    expect((await agent.cli(["define", file])).stdout).toBe(`Domain 'cli-guest' defined from ${file}`);
    expect((await agent.cli(["start", "cli-guest"])).stdout).toBe("Domain 'cli-guest' started");
    expect((await agent.cli(["domstate", "cli-guest", "--reason"])).stdout).toBe("running (booted)");
    const xml = (await agent.cli(["dumpxml", "cli-guest"])).stdout;
    expect(xml).toContain("<name>cli-guest</name>");
    expect((await agent.cli(["destroy", "cli-guest"])).exitCode).toBe(0);
    expect((await agent.cli(["undefine", "cli-guest", "--nvram", "--keep-nvram"])).exitCode).toBe(ERROR_TABLE.invalid_arg.exit);
    expect((await agent.cli(["undefine", "cli-guest"])).stdout).toBe("Domain 'cli-guest' has been undefined");
    expect((await agent.cli(["dominfo", "cli-guest"])).exitCode).toBe(ERROR_TABLE["domain.not_found"].exit);
  });

  it("domiflist, domblklist and vncdisplay list a guest's devices as virsh does", async () => {
    const file = join(agent.dir, "devices.xml");
    writeFileSync(
      file,
      GUEST_XML.replace("cli-guest", "dev-guest").replace(
        "</os>",
        `</os><devices>
          <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/srv/dev-guest.img'/><target dev='vda' bus='virtio'/></disk>
          <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br0'/><model type='virtio'/></interface>
          <graphics type='vnc' port='5907' autoport='no' listen='127.0.0.1'/></devices>`,
      ),
    );
    expect((await agent.cli(["define", file])).exitCode).toBe(0);
    const rows = (r: { stdout: string }) => r.stdout.split("\n").slice(2).map((l) => l.trim().split(/\s+/));
    expect(rows(await agent.cli(["domiflist", "dev-guest"]))).toEqual([["-", "bridge", "br0", "virtio", "52:54:00:12:34:56"]]);
    expect(rows(await agent.cli(["domblklist", "dev-guest"]))).toEqual([["vda", "/srv/dev-guest.img"]]);
    const off = await agent.cli(["vncdisplay", "dev-guest"]);
    expect(off.exitCode).toBe(ERROR_TABLE.operation_invalid.exit);
    expect(off.stderr).toMatch(/"dev-guest" is not running/);
    expect((await agent.cli(["start", "dev-guest"])).exitCode).toBe(0);
    expect((await agent.cli(["vncdisplay", "dev-guest"])).stdout).toBe("127.0.0.1:7");
    expect(JSON.parse((await agent.cli(["--json", "domblklist", "dev-guest"])).stdout)).toEqual([{ type: "file", device: "disk", target: "vda", source: "/srv/dev-guest.img" }]);
    await agent.cli(["destroy", "dev-guest"]);
    await agent.cli(["undefine", "dev-guest"]);
  });

  it("domstats, dommemstat, domblkstat, domifstat, domid, domuuid and domname as virsh prints them", async () => {
    const stats = (await agent.cli(["domstats", "demo-1"])).stdout.split("\n");
    expect(stats[0]).toBe("Domain: 'demo-1'");
    expect(stats).toEqual(expect.arrayContaining(["  state.state=1", "  vcpu.current=1", "  net.count=1", "  block.count=1", "  block.0.name=vda"]));
    expect(stats.find((l) => l.startsWith("  cpu.time="))).toMatch(/^ {2}cpu\.time=\d+$/);
    expect((await agent.cli(["dommemstat", "demo-1"])).stdout).toMatch(/^actual 131072\nrss \d+$/);
    expect((await agent.cli(["domblkstat", "demo-1", "vda"])).stdout.split("\n").map((l) => l.replace(/\d+$/, "N"))).toEqual(
      ["rd_req", "rd_bytes", "wr_req", "wr_bytes", "flush_operations", "rd_total_times", "wr_total_times", "errs"].map((k) => `vda ${k} N`),
    );
    expect((await agent.cli(["domifstat", "demo-1", "vnet0"])).stdout.split("\n")[0]).toMatch(/^vnet0 rx_bytes \d+$/);
    const noDisk = await agent.cli(["domblkstat", "demo-1", "sdz"]);
    expect(noDisk.exitCode).toBe(ERROR_TABLE.invalid_arg.exit);
    const off = await agent.cli(["domstats", "demo-2"]);
    expect(off.exitCode).toBe(ERROR_TABLE.operation_invalid.exit);
    expect(off.stderr).toMatch(/"demo-2" is not running/);
    const uuid = (await agent.cli(["domuuid", "demo-1"])).stdout;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect((await agent.cli(["domid", "demo-1"])).stdout).toBe("1");
    expect((await agent.cli(["domid", "demo-2"])).stdout).toBe("-");
    expect((await agent.cli(["domname", "1"])).stdout).toBe("demo-1");
    expect((await agent.cli(["domname", uuid])).stdout).toBe("demo-1");
  });

  it("define of malformed XML fails with xml_error and defines nothing", async () => {
    const r = await agent.cli(["define", "-"], { input: "<domain><name>x</name" });
    expect(r.exitCode).toBe(ERROR_TABLE.xml_error.exit);
    const list = JSON.parse((await agent.cli(["--json", "list", "--all"])).stdout) as { name: string }[];
    expect(list.map((d) => d.name).sort()).toEqual(["demo-1", "demo-2"]);
  });

  it("event --loop prints lifecycle events as virsh does", async () => {
    const ev = spawn(process.execPath, ["--import", "tsx", "agent/cli.ts", "--socket", agent.socket, "event", "--loop", "--domain", "demo-2", "--timeout", "20"]);
    let out = "";
    ev.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 1500)); // let it subscribe
    await agent.cli(["start", "demo-2"]);
    await agent.cli(["suspend", "demo-2"]);
    await agent.cli(["destroy", "demo-2"]);
    for (let i = 0; i < 100 && out.split("\n").length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    ev.kill();
    expect(out.trim().split("\n")).toEqual([
      "event 'lifecycle' for domain 'demo-2': Started Booted",
      "event 'lifecycle' for domain 'demo-2': Suspended Paused",
      "event 'lifecycle' for domain 'demo-2': Stopped Destroyed",
    ]);
  });
});

describe("virtbusd config handling", () => {
  it("a config with unknown keys and bad values is refused with path: message lines and exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "virtbus-cfg-"));
    const cfg = join(dir, "bad.yaml");
    writeFileSync(cfg, "bogus: 1\nhypervisor:\n  driver: xen\n  qmp_timeout_ms: 1\n");
    const r = await execa(process.execPath, ["--import", "tsx", "agent/main.ts", "--config", cfg], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("bogus: unknown key");
    expect(r.stderr).toContain("hypervisor.driver: must be equal to one of the allowed values (auto, qemu, fake)");
    expect(r.stderr).toContain("hypervisor.qmp_timeout_ms: must be >= 100");
  });

  it("on a fresh host the agent creates its state and run directories (0700) before any component writes there", async () => {
    const dir = mkdtempSync(join(tmpdir(), "virtbus-fresh-"));
    // fake driver and no bus: SNMP's engine file is then the first thing written to state_dir
    const agent = await startAgentProcess({ hypervisor: { driver: "fake" }, snmp: { enabled: true, listen: { address: "127.0.0.1", port: 0 } } }, dir);
    try {
      for (const d of ["state", "run"]) expect(statSync(join(dir, d)).mode & 0o777).toBe(0o700);
      // SNMP starts after the control socket the helper waits for: give it its moment
      const engine = join(dir, "state", "snmp-engine.json");
      for (let i = 0; i < 100 && !existsSync(engine) && agent.proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(engine)).toBe(true);
      expect(agent.proc.exitCode).toBeNull();
      expect((await agent.cli(["ping"])).exitCode).toBe(0);
    } finally {
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the CLI names the socket and exits non-zero when no agent is running", async () => {
    const r = await execa(process.execPath, ["--import", "tsx", "agent/cli.ts", "--socket", "/nonexistent/v.sock", "list"], { reject: false });
    expect(r.exitCode).toBe(ERROR_TABLE.operation_failed.exit);
    expect(r.stderr).toContain("cannot connect to /nonexistent/v.sock");
    expect(r.stderr).toContain("is virtbusd running?");
  });
});
