/**
 * Pure argv builder: (domain definition, QEMU capabilities, launch context) → argv.
 * No I/O: paths, fds and capabilities come in as data so golden tests fix them.
 *
 * OWNER NOTE: interface fixed by the core; implementation in progress.
 */
import type { DomainDef } from "../../model/domain-def.js";

export interface MachineType {
  name: string; // "pc-i440fx-7.2"
  alias?: string; // "pc"
  isDefault: boolean;
  deprecated: boolean;
  maxCpus: number;
}

export interface QemuCaps {
  binary: string;
  version: { major: number; minor: number; micro: number };
  machines: MachineType[];
  /** /dev/kvm opened read-write and KVM_GET_API_VERSION answered. */
  kvm: boolean;
}

export interface LaunchContext {
  /** fd number, inside the child, of the listening QMP socket. */
  monitorFd: number;
  /** Per-domain private directory (pty/channel sockets, secrets). */
  runDir: string;
  /** fd numbers inside the child of the opened taps, keyed by interface index in def.devices.interfaces. */
  tapFds: Record<number, number>;
  /** fd number inside the child from which QEMU reads the graphics password secret, when there is one. */
  graphicsSecretFd?: number;
}

export interface QemuCommand {
  binary: string;
  argv: string[];
}

export function buildCommand(def: DomainDef, caps: QemuCaps, ctx: LaunchContext): QemuCommand {
  void def;
  void caps;
  void ctx;
  throw new Error("not implemented");
}
