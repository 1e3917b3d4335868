/**
 * The unprivileged user QEMU runs as (config hypervisor.qemu_user), as libvirt runs it as
 * libvirt-qemu: a compromised QEMU then has that user's file access, not the agent's.
 *
 * The agent stays root; each QEMU is exec'ed through util-linux setpriv, which switches to
 * the user with its own supplementary groups (e.g. kvm for /dev/kvm; Node's own uid/gid
 * spawn options would drop them), no capabilities in any set and no_new_privs. What the
 * agent manages is handed in as fds (QMP, taps, the UEFI variable store, channel sockets,
 * secrets): QEMU opens by path only what the domain XML names (disks, kernel, firmware
 * code), so those must be readable (writable for a read-write disk) by the user.
 */
import { execa } from "execa";
import { AgentError } from "../../model/errors.js";

export const SETPRIV = "/usr/bin/setpriv";

/** The QEMU user as resolved once at driver start. */
export interface QemuCredentials {
  user: string;
  uid: number;
  gid: number;
}

/** A login name as useradd accepts it (no numeric ids: they say nothing in a config). */
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/**
 * Parses one `getent passwd` line for `user`.
 * @throws AgentError invalid_arg when it is not such a line or the user is root.
 */
export function parsePasswd(user: string, line: string): QemuCredentials {
  const f = line.trim().split(":");
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (f.length < 7 || f[0] !== user || !Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === "" || f[3] === "") {
    throw new AgentError("invalid_arg", `hypervisor.qemu_user: unexpected passwd entry for "${user}": ${JSON.stringify(line.trim())}`, { component: "qemu" });
  }
  if (uid === 0) throw new AgentError("invalid_arg", `hypervisor.qemu_user "${user}" is root (uid 0): name an unprivileged user, or leave it unset`, { component: "qemu" });
  return { user, uid, gid };
}

/**
 * Looks the user up through NSS (getent: /etc/passwd, LDAP, ...) and checks that setpriv
 * is installed. @throws AgentError invalid_arg (no such user, root), operation_failed.
 */
export async function resolveQemuUser(user: string): Promise<QemuCredentials> {
  if (!USER_NAME.test(user)) throw new AgentError("invalid_arg", `hypervisor.qemu_user "${user}" is not a user name`, { component: "qemu" });
  const r = await execa("getent", ["passwd", user], { reject: false, stdin: "ignore", timeout: 10_000 });
  if (r.exitCode === 2) {
    throw new AgentError("invalid_arg", `hypervisor.qemu_user "${user}" does not exist; create it with: useradd --system --no-create-home --shell /usr/sbin/nologin --groups kvm ${user}`, { component: "qemu" });
  }
  if (r.exitCode !== 0) throw new AgentError("operation_failed", `getent passwd ${user} failed (exit ${String(r.exitCode)}): ${r.stderr}`, { component: "qemu" });
  const cred = parsePasswd(user, r.stdout.split("\n")[0] ?? "");
  const probe = await execa(SETPRIV, ["--version"], { reject: false, stdin: "ignore", timeout: 10_000 });
  if (probe.exitCode !== 0) throw new AgentError("operation_failed", `hypervisor.qemu_user needs ${SETPRIV} (Debian package util-linux): ${probe.stderr || probe.message}`, { component: "qemu" });
  return cred;
}

/** The command that runs `binary argv` as the user: setpriv's options, then QEMU's own argv. */
export function confinedCommand(cred: QemuCredentials, binary: string, argv: readonly string[]): { binary: string; argv: string[] } {
  return {
    binary: SETPRIV,
    argv: [`--reuid=${cred.uid}`, `--regid=${cred.gid}`, "--init-groups", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", binary, ...argv],
  };
}

/** A hint for a QEMU that could not open something as the user, or undefined. */
export function permissionHint(cred: QemuCredentials | undefined, stderr: string): string | undefined {
  if (!cred || !/Permission denied|Operation not permitted/i.test(stderr)) return undefined;
  return `QEMU runs as user "${cred.user}" (hypervisor.qemu_user): every file the domain names must be readable by it (writable for a read-write disk), with each directory above searchable, and KVM needs it in the group of /dev/kvm`;
}
