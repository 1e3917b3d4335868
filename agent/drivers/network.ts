/**
 * The network driver interface (virNetworkDriver's analogue). Implementation: `net/`.
 * Drivers publish `network.lifecycle` on the bus; they never call exporters.
 *
 * Every method throws only AgentError. Networks are referred to by name or UUID.
 */
import type { ForwardMode } from "../model/network-def.js";
import type { DhcpLease } from "./net/leases.js";
import type { TapOpener } from "./qemu/start.js";

export type { DhcpLease } from "./net/leases.js";

export interface NetworkView {
  uuid: string;
  name: string;
  active: boolean;
  autostart: boolean;
  persistent: boolean;
  forward: ForwardMode;
  bridge: string;
  /** Subnets as "address/prefix" of the bridge, e.g. "192.168.122.1/24". */
  addresses: string[];
}

export interface NetworkDefineResult {
  view: NetworkView;
  /** True when an existing definition of the same name was replaced. */
  updated: boolean;
}

export interface NetworkDriver {
  /** Loads definitions, re-adopts networks still up from a previous run, starts autostart ones. */
  open(): Promise<void>;
  /** Forgets runtime handles; running networks stay up (as libvirt's do). */
  close(): Promise<void>;

  /** @throws xml_error, config_unsupported, invalid_arg, operation_invalid (conflict with another network). */
  defineNetwork(xml: string): Promise<NetworkDefineResult>;
  /** @throws network.not_found, operation_invalid (still active). */
  undefineNetwork(ref: string): Promise<void>;
  /** All-or-nothing. @throws network.not_found, operation_invalid (active, bridge in use, overlap), operation_failed. */
  startNetwork(ref: string): Promise<NetworkView>;
  /** libvirt's net-destroy: removes bridge, dnsmasq and rules. @throws network.not_found, operation_invalid. */
  stopNetwork(ref: string): Promise<NetworkView>;
  setAutostart(ref: string, on: boolean): Promise<NetworkView>;
  listNetworks(): NetworkView[];
  getNetwork(ref: string): NetworkView;
  getNetworkXml(ref: string): string;
  getDhcpLeases(ref: string): Promise<DhcpLease[]>;
  /** Creates and plugs a guest's taps; hand it to the QEMU driver as `openTaps`. */
  readonly openTaps: TapOpener;
}
