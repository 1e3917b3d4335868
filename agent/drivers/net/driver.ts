/**
 * The network driver: libvirt-style virtual networks built from `ip`, `nft`, `sysctl` and
 * dnsmasq, optionally all inside one network namespace (`netns`, used by the tests).
 * Mutations run one at a time so conflict checks never race each other.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { Logger } from "pino";
import type { EventBus } from "../../core/bus.js";
import type { InterfaceDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { isManagedBridge, type NetworkDef } from "../../model/network-def.js";
import * as networkXml from "../../model/network-xml.js";
import { checkConflicts, validateNetworkDef } from "../../model/network-validate.js";
import type { NetworkDefineResult, NetworkDriver, NetworkView } from "../network.js";
import type { TapOpener } from "../qemu/start.js";
import { linkExists } from "./bridge.js";
import { readDnsmasqLeases } from "./dnsmasq.js";
import { createNetExec, type NetExec } from "./exec.js";
import type { DhcpLease } from "./leases.js";
import { deleteNetwork, loadNetworks, saveNetwork } from "./net-store.js";
import { activeMarker, dnsmasqFiles, startNetworkRuntime, stopNetworkRuntime, type RuntimeDirs } from "./net-runtime.js";
import { createTapOpener } from "./tap.js";

export interface NetDriverOptions extends RuntimeDirs {
  bus: EventBus;
  log: Logger;
  /** Run every command inside this network namespace (tests); absent in production. */
  netns?: string;
}

interface Entry {
  def: NetworkDef;
  autostart: boolean;
  active: boolean;
}

export class NetDriver implements NetworkDriver {
  readonly openTaps: TapOpener;
  private readonly exec: NetExec;
  private readonly nets = new Map<string, Entry>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: NetDriverOptions) {
    this.exec = createNetExec(opts.netns);
    this.openTaps = createTapOpener({ exec: this.exec, bridgeFor: (i) => this.bridgeFor(i) });
  }

  async open(): Promise<void> {
    const stored = await loadNetworks(this.opts.stateDir, (file, err) => this.opts.log.warn({ file, err }, "skipping unreadable network definition"));
    for (const s of stored) this.nets.set(s.def.name, { ...s, active: existsSync(activeMarker(this.opts, s.def.name)) });
    for (const e of this.nets.values()) {
      if (!e.autostart || e.active) continue;
      await this.startNetwork(e.def.name).catch((err: unknown) => this.opts.log.error({ err, network: e.def.name }, "autostart failed"));
    }
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  defineNetwork(xml: string): Promise<NetworkDefineResult> {
    return this.serial(async () => {
      const parsed = networkXml.parse(xml);
      validateNetworkDef(parsed);
      const old = this.nets.get(parsed.name) ?? [...this.nets.values()].find((e) => e.def.uuid === parsed.uuid);
      if (old && parsed.uuid !== "" && old.def.uuid !== parsed.uuid) throw new AgentError("network.exists", `network '${parsed.name}' already exists with uuid ${old.def.uuid}`, { component: "network" });
      if (old && old.def.name !== parsed.name) throw new AgentError("network.exists", `uuid ${parsed.uuid} is already network '${old.def.name}'`, { component: "network" });
      const def: NetworkDef = { ...parsed, uuid: parsed.uuid || (old?.def.uuid ?? randomUUID()), bridge: parsed.bridge || (old?.def.bridge ?? this.freeBridgeName()) };
      if (old?.active && networkXml.format(old.def) !== networkXml.format(def)) throw new AgentError("operation_invalid", `network '${def.name}' is active; stop it before redefining`, { component: "network" });
      checkConflicts(def, this.others(def.name));
      const entry: Entry = { def, autostart: old?.autostart ?? false, active: old?.active ?? false };
      await saveNetwork(this.opts.stateDir, entry);
      this.nets.set(def.name, entry);
      this.emit(def, "defined");
      return { view: this.view(entry), updated: old !== undefined };
    });
  }

  undefineNetwork(ref: string): Promise<void> {
    return this.serial(async () => {
      const e = this.lookup(ref);
      if (e.active) throw new AgentError("operation_invalid", `network '${e.def.name}' is active; stop it first`, { component: "network" });
      await deleteNetwork(this.opts.stateDir, e.def.name);
      this.nets.delete(e.def.name);
      this.emit(e.def, "undefined");
    });
  }

  startNetwork(ref: string): Promise<NetworkView> {
    return this.serial(async () => {
      const e = this.lookup(ref);
      if (e.active) throw new AgentError("operation_invalid", `network '${e.def.name}' is already active`, { component: "network" });
      const active = [...this.nets.values()].filter((o) => o.active && o !== e).map((o) => o.def);
      await startNetworkRuntime(this.exec, this.opts, e.def, active);
      e.active = true;
      this.emit(e.def, "started");
      return this.view(e);
    });
  }

  stopNetwork(ref: string): Promise<NetworkView> {
    return this.serial(async () => {
      const e = this.lookup(ref);
      if (!e.active) throw new AgentError("operation_invalid", `network '${e.def.name}' is not active`, { component: "network" });
      await stopNetworkRuntime(this.exec, this.opts, e.def);
      e.active = false;
      this.emit(e.def, "stopped");
      return this.view(e);
    });
  }

  setAutostart(ref: string, on: boolean): Promise<NetworkView> {
    return this.serial(async () => {
      const e = this.lookup(ref);
      await saveNetwork(this.opts.stateDir, { def: e.def, autostart: on });
      e.autostart = on;
      return this.view(e);
    });
  }

  listNetworks(): NetworkView[] {
    return [...this.nets.values()].map((e) => this.view(e)).sort((a, b) => a.name.localeCompare(b.name));
  }

  getNetwork(ref: string): NetworkView {
    return this.view(this.lookup(ref));
  }

  getNetworkXml(ref: string): string {
    return networkXml.format(this.lookup(ref).def);
  }

  async getDhcpLeases(ref: string): Promise<DhcpLease[]> {
    const e = this.lookup(ref);
    return e.active ? readDnsmasqLeases(dnsmasqFiles(this.opts, e.def.name)) : [];
  }

  private async bridgeFor(iface: InterfaceDef): Promise<string> {
    const source = iface.source ?? "";
    if (iface.type === "bridge") {
      if (!(await linkExists(this.exec, source))) throw new AgentError("operation_invalid", `bridge '${source}' does not exist`, { component: "network" });
      return source;
    }
    const e = this.lookup(source);
    if (!e.active) throw new AgentError("operation_invalid", `network '${e.def.name}' is not active`, { component: "network" });
    return e.def.bridge;
  }

  private lookup(ref: string): Entry {
    const e = this.nets.get(ref) ?? [...this.nets.values()].find((n) => n.def.uuid === ref.toLowerCase());
    if (!e) throw new AgentError("network.not_found", `no network with matching name or uuid '${ref}'`, { component: "network" });
    return e;
  }

  private others(name: string): NetworkDef[] {
    return [...this.nets.values()].filter((e) => e.def.name !== name).map((e) => e.def);
  }

  private freeBridgeName(): string {
    const used = new Set([...this.nets.values()].filter((e) => isManagedBridge(e.def)).map((e) => e.def.bridge));
    let n = 0;
    while (used.has(`virbr${n}`)) n++;
    return `virbr${n}`;
  }

  private view(e: Entry): NetworkView {
    const { def } = e;
    return { uuid: def.uuid, name: def.name, active: e.active, autostart: e.autostart, persistent: true, forward: def.forward, bridge: def.bridge, addresses: def.ips.map((ip) => `${ip.address}/${ip.prefix}`) };
  }

  private emit(def: NetworkDef, event: "defined" | "undefined" | "started" | "stopped"): void {
    this.opts.bus.emit("network.lifecycle", { uuid: def.uuid, name: def.name, event });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
