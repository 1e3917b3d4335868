/** Runs the real Net-SNMP command-line tools against the agent (no shell, argv only). */
import { execa } from "execa";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SnmpSettings } from "../../../agent/exporters/snmp/settings.js";

const PACKAGE_OF: Record<string, string> = {
  snmpget: "snmp",
  snmpwalk: "snmp",
  snmpbulkwalk: "snmp",
  snmpset: "snmp",
  snmptable: "snmp",
  snmptrapd: "snmptrapd",
  snmpd: "snmpd",
  ip: "iproute2",
};

/** Fails (never skips) with the Debian package to install when a tool is missing. */
export function requireTool(tool: string): string {
  for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]) {
    if (existsSync(`${dir}/${tool}`)) return `${dir}/${tool}`;
  }
  throw new Error(`${tool} not found: install the Debian package "${PACKAGE_OF[tool] ?? tool}"`);
}

/** No MIB files are loaded: output is numeric, so the test does not depend on SMI modules. */
export const NUMERIC = ["-m", "", "-M", "/nonexistent", "-On", "-Oe", "-Ot", "-Oq", "-r", "1", "-t", "3"];

export async function snmp(tool: string, args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const bin = requireTool(tool);
  const r = await execa(bin, [...NUMERIC, ...args], { reject: false, timeout: 30_000, env: { MIBS: "", SNMPCONFPATH: "/nonexistent" } });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** The MIB modules the agent ships (LIBVIRT-MIB, VM-MIB and the base modules they import). */
export const MIB_DIR = fileURLToPath(new URL("../../../deploy/mibs", import.meta.url));

/** Runs a tool with the shipped MIBs loaded (`-M +deploy/mibs -m LIBVIRT-MIB:VM-MIB`): symbolic names in and out. */
export async function snmpSymbolic(tool: string, args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const bin = requireTool(tool);
  const mibs = ["-M", `+${MIB_DIR}`, "-m", "LIBVIRT-MIB:VM-MIB", "-r", "1", "-t", "3"];
  const r = await execa(bin, [...mibs, ...args], { reject: false, timeout: 30_000, env: { MIBS: "", MIBDIRS: "", SNMPCONFPATH: "/nonexistent" } });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** "oid value" lines into a map. */
export function parseLines(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const i = line.indexOf(" ");
    if (line.includes("No more variables left") || line.includes("No Such")) continue;
    if (i > 0) m.set(line.slice(0, i).replace(/^\./, ""), line.slice(i + 1).replace(/^"|"$/g, ""));
  }
  return m;
}

export function v3Args(user: string, authKey: string, privKey: string): string[] {
  return ["-v3", "-l", "authPriv", "-u", user, "-a", "SHA-256", "-A", authKey, "-x", "AES", "-X", privKey];
}

/** Agent settings for tests: loopback, ephemeral port, an admin (write) and a reader user. */
export function settings(over: Partial<SnmpSettings> = {}): SnmpSettings {
  return {
    enabled: true,
    mode: "standalone",
    listen: { address: "127.0.0.1", port: 0 },
    communities: [{ name: "public", allow_remote: false }],
    users: [
      { name: "admin", auth_protocol: "sha256", auth_key: "admin-auth-pass", priv_protocol: "aes", priv_key: "admin-priv-pass", access: "write" },
      { name: "reader", auth_protocol: "sha256", auth_key: "reader-auth-pass", priv_protocol: "aes", priv_key: "reader-priv-pass", access: "read" },
    ],
    cache_ms: 1000,
    set_deadline_ms: 10_000,
    agentx: { host: "127.0.0.1", port: 705, reconnect_ms: 500, caller: "agentx" },
    notifications: { per_vm: true, bulk: true, bulk_threshold: 10, window_ms: 50, retries: 2, timeout_ms: 500, max_inflight: 100, sinks: [] },
    ...over,
  };
}
