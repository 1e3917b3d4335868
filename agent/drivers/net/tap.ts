/**
 * Guest taps (the QEMU driver's TapOpener). The agent opens every tap itself and hands the
 * fd to QEMU; the taps are not persistent, so the kernel removes them when the last fd (QEMU's)
 * closes, i.e. when the guest stops. An existing interface is never adopted (IFF_TUN_EXCL),
 * except `type='ethernet'` with `<target managed='no'/>`, whose pre-created tap is opened
 * untouched and outlives the guest.
 */
import { closeSync } from "node:fs";
import type { DomainDef, InterfaceDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { isValidIfname } from "../../model/network-validate.js";
import type { OpenedTaps, TapOpener } from "../qemu/start.js";
import { linkExists } from "./bridge.js";
import type { NetExec } from "./exec.js";
import { tapAddon } from "./tap-native.js";

export interface TapDeps {
  exec: NetExec;
  /** The bridge an interface plugs into; throws network.not_found / operation_invalid. */
  bridgeFor(iface: InterfaceDef): Promise<string>;
}

/** Tap names are generated as vnetN; N only grows within a process, and existing names are skipped. */
let counter = 0;

function tapError(name: string, err: unknown): AgentError {
  const code = (err as { code?: string }).code;
  if (code === "E16") return new AgentError("operation_invalid", `tap '${name}' already exists; refusing to use an interface that may belong to another guest`, { component: "network", details: { tap: name } });
  return new AgentError("operation_failed", `cannot open tap '${name}': ${(err as Error).message}`, { component: "network", cause: err });
}

function open(deps: TapDeps, name: string, exclusive: boolean): number {
  try {
    return tapAddon().openTap(name, deps.exec.netnsPath ?? null, exclusive).fd;
  } catch (err) {
    throw err instanceof AgentError ? err : tapError(name, err);
  }
}

async function openGenerated(deps: TapDeps): Promise<{ fd: number; name: string }> {
  for (let tries = 0; tries < 1000; tries++) {
    const name = `vnet${counter++}`;
    if (await linkExists(deps.exec, name)) continue;
    try {
      return { fd: open(deps, name, true), name };
    } catch (err) {
      // Lost a race with someone creating the same name: take the next one.
      if (!(err instanceof AgentError && err.code === "operation_invalid")) throw err;
    }
  }
  throw new AgentError("operation_failed", "no free vnetN tap name", { component: "network" });
}

/** libvirt gives the host side the guest MAC with a 0xfe first octet, so the bridge never adopts the guest's. */
function hostMac(mac: string): string {
  return `fe${mac.slice(2)}`;
}

async function openOne(deps: TapDeps, iface: InterfaceDef): Promise<{ fd: number; name: string }> {
  const target = iface.target;
  if (iface.type === "ethernet" && target && !target.managed) {
    if (!(await linkExists(deps.exec, target.dev))) throw new AgentError("operation_invalid", `unmanaged tap '${target.dev}' does not exist`, { component: "network" });
    return { fd: open(deps, target.dev, false), name: target.dev };
  }
  if (target && !isValidIfname(target.dev)) throw new AgentError("invalid_arg", `invalid tap name '${target.dev}'`, { component: "network" });
  // libvirt reserves vnet* names for generation: a requested vnetN is ignored.
  const t = target && !target.dev.startsWith("vnet") ? { fd: open(deps, target.dev, true), name: target.dev } : await openGenerated(deps);
  return t;
}

async function plug(deps: TapDeps, iface: InterfaceDef, tap: string): Promise<void> {
  if (iface.type === "ethernet" && iface.target && !iface.target.managed) return;
  if (iface.mac !== undefined) await deps.exec.run("ip", ["link", "set", "dev", tap, "address", hostMac(iface.mac)]);
  if (iface.type !== "ethernet") await deps.exec.run("ip", ["link", "set", "dev", tap, "master", await deps.bridgeFor(iface)]);
  await deps.exec.run("ip", ["link", "set", "dev", tap, "up"]);
}

/** Builds the TapOpener; on any failure every tap opened so far is closed (and so removed). */
export function createTapOpener(deps: TapDeps): TapOpener {
  return async (def: DomainDef): Promise<OpenedTaps> => {
    const fds: Record<number, number> = {};
    const names: string[] = [];
    const close = (): void => {
      for (const fd of Object.values(fds)) closeSync(fd);
      for (const k of Object.keys(fds)) delete fds[Number(k)];
    };
    try {
      for (const [i, iface] of def.devices.interfaces.entries()) {
        if (iface.type !== "ethernet") await deps.bridgeFor(iface);
        const tap = await openOne(deps, iface);
        fds[i] = tap.fd;
        names.push(tap.name);
        await plug(deps, iface, tap.name);
      }
      return { fds, names, close };
    } catch (err) {
      close();
      throw err;
    }
  };
}
