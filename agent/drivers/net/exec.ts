/**
 * Runs the network tools (ip, nft, sysctl, dnsmasq) with argument arrays, never a shell.
 * With `netns` set, every command runs as `ip netns exec NAME …`: tests build networks
 * entirely inside a namespace they own; production leaves it unset.
 */
import { execa } from "execa";
import { AgentError } from "../../model/errors.js";

const TIMEOUT_MS = 15_000;
const NETNS_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface NetExec {
  readonly netns: string | undefined;
  /** Path of the namespace file (for opening taps inside it), or undefined for the agent's own. */
  readonly netnsPath: string | undefined;
  /** Runs and returns stdout. @throws AgentError operation_failed with the tool's stderr. */
  run(cmd: string, args: readonly string[], input?: string): Promise<string>;
  /** Runs and reports success, for probes like "does this link exist". */
  test(cmd: string, args: readonly string[]): Promise<boolean>;
}

function argvFor(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns === undefined ? [cmd, [...args]] : ["ip", ["netns", "exec", netns, cmd, ...args]];
}

/** @throws AgentError invalid_arg for a malformed namespace name. */
export function createNetExec(netns?: string): NetExec {
  if (netns !== undefined && !NETNS_RE.test(netns)) throw new AgentError("invalid_arg", `invalid netns name '${netns}'`, { component: "network" });
  return {
    netns,
    netnsPath: netns === undefined ? undefined : `/run/netns/${netns}`,
    async run(cmd, args, input) {
      const [file, argv] = argvFor(netns, cmd, args);
      const r = await execa(file, argv, { reject: false, timeout: TIMEOUT_MS, env: { LC_ALL: "C" }, ...(input === undefined ? { stdin: "ignore" as const } : { input }) });
      if (r.exitCode !== 0 || r.failed) {
        const why = (r.stderr || r.stdout || r.shortMessage || "").toString().trim();
        throw new AgentError("operation_failed", `${cmd} ${args.join(" ")}: ${why}`, { component: "network", details: { exitCode: r.exitCode } });
      }
      return r.stdout.toString();
    },
    async test(cmd, args) {
      const [file, argv] = argvFor(netns, cmd, args);
      const r = await execa(file, argv, { reject: false, timeout: TIMEOUT_MS, stdin: "ignore", env: { LC_ALL: "C" } });
      return r.exitCode === 0;
    },
  };
}
