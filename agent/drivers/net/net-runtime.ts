/**
 * Bringing one network up and down. Start is a list of steps, each with its undo; when a
 * step fails the finished ones are undone in reverse, so a failed start leaves nothing.
 */
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { removeFileDurable, writeFileAtomic } from "../../core/atomic-file.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import { isManagedBridge, type NetworkDef } from "../../model/network-def.js";
import { checkConflicts } from "../../model/network-validate.js";
import { createBridge, deleteLink, enableForwarding, hostRoutes, isBridge, linkExists } from "./bridge.js";
import { startDnsmasq, stopDnsmasq, type DnsmasqFiles } from "./dnsmasq.js";
import { needsDnsmasq } from "./dnsmasq-conf.js";
import type { NetExec } from "./exec.js";
import { applyFirewall, removeFirewall } from "./firewall.js";

export interface RuntimeDirs {
  runDir: string;
  stateDir: string;
}

export function dnsmasqFiles(dirs: RuntimeDirs, name: string): DnsmasqFiles {
  return { conf: join(dirs.runDir, "network", `${name}.conf`), pidFile: join(dirs.runDir, "network", `${name}.pid`), leaseFile: join(dirs.stateDir, "network", `${name}.leases`) };
}

/** Marker that the network was started by us and not stopped (re-adoption after a restart). */
export function activeMarker(dirs: RuntimeDirs, name: string): string {
  return join(dirs.runDir, "network", `${name}.active`);
}

interface Step {
  what: string;
  run(): Promise<unknown>;
  undo(): Promise<unknown>;
}

async function runSteps(steps: Step[]): Promise<void> {
  const done: Step[] = [];
  try {
    for (const s of steps) {
      await s.run();
      done.push(s);
    }
  } catch (err) {
    for (const s of done.reverse()) await s.undo().catch(() => undefined);
    const e = toAgentError(err, "network");
    throw e.code === "internal" ? new AgentError("operation_failed", e.message, { component: "network", cause: err }) : e;
  }
}

/** Refuses what would clash: a bridge name in use, subnets overlapping active networks or host routes. */
async function precheck(exec: NetExec, def: NetworkDef, active: readonly NetworkDef[]): Promise<void> {
  if (!isManagedBridge(def)) {
    if (!(await isBridge(exec, def.bridge))) throw new AgentError("operation_invalid", `host bridge '${def.bridge}' does not exist`, { component: "network" });
    return;
  }
  if (await linkExists(exec, def.bridge)) {
    throw new AgentError("operation_invalid", `bridge name '${def.bridge}' is already in use by an existing interface`, { component: "network", details: { bridge: def.bridge } });
  }
  checkConflicts(def, active, await hostRoutes(exec));
}

/**
 * Starts a network: bridge, addresses, forwarding, nft table, dnsmasq, marker.
 * @throws AgentError operation_invalid (conflicts), operation_failed (a tool refused; all undone).
 */
export async function startNetworkRuntime(exec: NetExec, dirs: RuntimeDirs, def: NetworkDef, active: readonly NetworkDef[]): Promise<void> {
  await precheck(exec, def, active);
  await mkdir(join(dirs.runDir, "network"), { recursive: true, mode: 0o755 });
  await mkdir(join(dirs.stateDir, "network"), { recursive: true, mode: 0o700 });
  const files = dnsmasqFiles(dirs, def.name);
  const managed = isManagedBridge(def);
  const steps: Step[] = [
    { what: "bridge", run: () => (managed ? createBridge(exec, def) : Promise.resolve()), undo: () => (managed ? deleteLink(exec, def.bridge) : Promise.resolve()) },
    { what: "forwarding", run: () => enableForwarding(exec, def), undo: () => Promise.resolve() },
    { what: "firewall", run: () => applyFirewall(exec, def), undo: () => removeFirewall(exec, def) },
    { what: "dnsmasq", run: () => (needsDnsmasq(def) ? startDnsmasq(exec, def, files) : Promise.resolve()), undo: () => stopDnsmasq(files) },
    { what: "marker", run: () => writeFileAtomic(activeMarker(dirs, def.name), `${def.uuid}\n`, { mode: 0o644 }), undo: () => removeFileDurable(activeMarker(dirs, def.name)) },
  ];
  await runSteps(steps);
}

/** Stops a network, removing what start made; every part is attempted even if one fails. */
export async function stopNetworkRuntime(exec: NetExec, dirs: RuntimeDirs, def: NetworkDef): Promise<void> {
  const errors: unknown[] = [];
  const attempt = async (p: Promise<unknown>): Promise<void> => {
    await p.catch((e: unknown) => errors.push(e));
  };
  await attempt(stopDnsmasq(dnsmasqFiles(dirs, def.name)));
  await attempt(removeFirewall(exec, def));
  if (isManagedBridge(def)) await attempt(deleteLink(exec, def.bridge));
  await attempt(removeFileDurable(activeMarker(dirs, def.name)));
  if (errors.length > 0) throw toAgentError(errors[0], "network");
}
