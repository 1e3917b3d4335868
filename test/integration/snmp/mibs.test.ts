import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { MIB_DIR, settings, snmpSymbolic, v3Args } from "./tools.js";

const READER = v3Args("reader", "reader-auth-pass", "reader-priv-pass");
type Info = { uuid: string; name: string; state: string; state_code: number; vcpus: number; max_memory_kib: number; used_memory_kib: number; os_type: string };

/** snmptable -Cf '|' -CH -Ci output: index, then one cell per column. */
function rows(stdout: string): string[][] {
  return stdout.split("\n").filter((l) => l.includes("|")).map((l) => l.split("|"));
}

describe("shipped MIB modules with the Net-SNMP tools", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let stateDir: string;
  let target: string;
  const info = async (uuid: string) => (await h.dispatcher.dispatch("domain.info", { domain: uuid }, { user: "test", via: "internal" })) as Info;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-mibs-"));
    h = await makeHarness({ demoDomains: 3, policy: { roles: {}, users: { reader: ["viewer"] } } });
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    target = `udp:127.0.0.1:${exporter.port}`;
  });
  afterAll(async () => {
    await exporter?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("deploy/mibs alone resolves every import of LIBVIRT-MIB and VM-MIB without a parser error", async () => {
    const files = await readdir(MIB_DIR);
    expect(files).toEqual(expect.arrayContaining(["LIBVIRT-MIB.txt", "VM-MIB.txt"]));
    const { execa } = await import("execa");
    const r = await execa("snmptranslate", ["-M", MIB_DIR, "-m", "ALL", "-On", "VM-MIB::vmRunning", "LIBVIRT-MIB::libvirtGuestNotif", "VM-MIB::vmStorageMediaType", "VM-MIB::vmNetworkIfIndex"], {
      reject: false,
      env: { MIBS: "", MIBDIRS: "", SNMPCONFPATH: "/nonexistent" },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n").filter((l) => l !== "")).toEqual([".1.3.6.1.2.1.236.0.1", ".1.3.6.1.4.1.36957.0.1", ".1.3.6.1.2.1.236.1.7.1.8", ".1.3.6.1.2.1.236.1.8.1.2"]);
  });

  it("snmptable LIBVIRT-MIB::libvirtGuestTable over v3 authPriv shows each guest with the values domain.info reports", async () => {
    const r = await snmpSymbolic("snmptable", [...READER, "-Ob", "-Ci", "-CH", "-Cf", "|", target, "LIBVIRT-MIB::libvirtGuestTable"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = rows(r.stdout);
    expect(got.length).toBe(3);
    for (const g of h.store.listDomains()) {
      const i = await info(g.uuid);
      const row = got.find((c) => c[0] === uuidToIndex(g.uuid).join("."));
      // index | UUID (the index itself, not-accessible) | Name | State | CpuCount | MemoryCurrent | MemoryLimit | CpuTime | RowStatus
      expect(row?.slice(2, 7)).toEqual([`"${i.name}"`, i.state, String(i.vcpus), String(Math.floor(i.used_memory_kib / 1024)), String(Math.floor(i.max_memory_kib / 1024))]);
      expect(row?.[8]).toBe(i.state === "running" ? "active" : "notInService");
    }
  });

  it("snmptable VM-MIB::vmTable over v2c shows each guest's name, UUID, states, CPUs and memory as domain.info reports", async () => {
    const r = await snmpSymbolic("snmptable", ["-v2c", "-c", "public", "-Ci", "-CH", "-Cf", "|", target, "VM-MIB::vmTable"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = rows(r.stdout);
    expect(got.length).toBe(3);
    for (const g of h.store.listDomains()) {
      const i = await info(g.uuid);
      const row = got.find((c) => c[1] === i.name);
      expect(row, `no vmTable row for ${i.name}`).toBeDefined();
      // Net-SNMP renders the UUID display hint without zero padding per group.
      expect(row?.[2]).toBe(i.uuid.split("-").map((p) => p.replace(/^0+(?=.)/, "")).join("-"));
      expect(row?.[3]).toBe(i.os_type);
      expect(row?.[5]).toBe(i.state === "running" ? "running" : i.state === "paused" ? "paused" : "shutdown");
      // vmCurCpuNumber/vmCurMem are what is allocated now (RFC 7666): nothing for a guest that is off.
      const on = i.state === "running" || i.state === "paused";
      expect(row?.slice(8, 14)).toEqual([String(on ? i.vcpus : 0), "-1", String(i.vcpus), "1024", String(on ? i.used_memory_kib : 0), "-1"]);
      expect(row?.[14]).toBe(String(i.max_memory_kib));
    }
  });

  it("snmpbulkwalk with symbolic names lists libvirtGuestName for every guest", async () => {
    const r = await snmpSymbolic("snmpbulkwalk", ["-v2c", "-c", "public", "-Oqv", target, "LIBVIRT-MIB::libvirtGuestName"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const names = r.stdout.split("\n").map((l) => l.replace(/^"|"$/g, ""));
    expect(names.sort()).toEqual(h.store.listDomains().map((d) => d.name).sort());
  });

  it("snmpget VM-MIB::vmNumber.0 and libvirtGuestState by symbolic name answer the store's values", async () => {
    const g = h.store.listDomains().find((d) => d.state === "running")!;
    const idx = uuidToIndex(g.uuid).join(".");
    const r = await snmpSymbolic("snmpget", [...READER, "-Oqv", target, "VM-MIB::vmNumber.0", `LIBVIRT-MIB::libvirtGuestState.${idx}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual(["3", "running"]);
  });
});
