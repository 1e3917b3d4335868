/**
 * Pure reading of a QEMU command line as /proc/PID/cmdline gives it: splitting argv into
 * options, QEMU's `key=value,key=value` lists (a doubled comma is a literal comma,
 * util/qemu-option.c), and finding the monitor socket an attach can connect to.
 */
import { AgentError } from "../../model/errors.js";

/** One `-name value` (or flag) of the command line, in order. */
export interface CmdOption {
  /** Without leading dashes: `--machine` and `-machine` are the same option to QEMU. */
  name: string;
  value?: string;
}

/** A parsed option list: the implied first value (e.g. `-machine pc`) and the properties. */
export interface OptList {
  head?: string;
  props: Map<string, string>;
}

/**
 * Options that take no argument (QEMU's qemu-options.def entries without HAS_ARG). Every
 * other option consumes the next argv element, which is how QEMU itself tokenises.
 */
const FLAGS = new Set([
  "S", "s", "nodefaults", "no-user-config", "nodefconfig", "no-shutdown", "no-reboot", "enable-kvm", "daemonize",
  "snapshot", "no-hpet", "no-acpi", "nographic", "full-screen", "no-fd-bootchk", "win2k-hack", "no-quit",
  "version", "help", "h", "preconfig", "only-migratable", "enable-sync-profile", "semihosting", "alt-grab",
  "ctrl-grab", "no-frame", "usb", "singlestep", "enable-fips", "old-param", "no-kvm", "no-kvm-irqchip",
]);

/**
 * /proc/PID/cmdline is NUL-separated with a trailing NUL; fixtures may also be one
 * argument per line (a line that is really an argument with a newline cannot occur in a
 * usable QEMU option anyway).
 */
export function splitCmdline(raw: string): string[] {
  const sep = raw.includes("\0") ? "\0" : "\n";
  const parts = raw.split(sep);
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/**
 * argv (argv[0] is the binary) → options. A bare word is QEMU's legacy "disk image"
 * shorthand for -hda and is returned as `{name: "hda"}`.
 * @throws AgentError invalid_arg when the last option lacks its argument.
 */
export function tokenize(argv: readonly string[]): CmdOption[] {
  const out: CmdOption[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("-") || a === "-") {
      out.push({ name: "hda", value: a });
      continue;
    }
    const name = a.replace(/^--?/, "");
    if (FLAGS.has(name)) {
      out.push({ name });
      continue;
    }
    if (i + 1 >= argv.length) throw new AgentError("invalid_arg", `QEMU option -${name} has no argument`, { component: "qemu" });
    out.push({ name, value: argv[++i] as string });
  }
  return out;
}

/** Splits on single commas; `,,` is a literal comma. */
export function splitOptList(value: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "," && value[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (c === ",") {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/**
 * `pc,accel=kvm` → head "pc", props {accel: kvm}. A bare word after the first is a
 * boolean flag (`server`, `nowait`), stored as "on" (QEMU's legacy "flag" syntax).
 * A JSON value (`-blockdev {"driver":…}`) is flattened with dotted keys.
 */
export function parseOptList(value: string): OptList {
  if (value.startsWith("{")) return parseJsonOpts(value);
  const props = new Map<string, string>();
  let head: string | undefined;
  splitOptList(value).forEach((p, i) => {
    const eq = p.indexOf("=");
    if (eq >= 0) props.set(p.slice(0, eq), p.slice(eq + 1));
    else if (i === 0) head = p;
    else if (p.startsWith("no")) props.set(p.slice(2), "off");
    else props.set(p, "on");
  });
  return head === undefined ? { props } : { head, props };
}

function parseJsonOpts(value: string): OptList {
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch {
    throw new AgentError("invalid_arg", `unparsable JSON option value ${JSON.stringify(value.slice(0, 80))}`, { component: "qemu" });
  }
  const props = new Map<string, string>();
  const walk = (o: unknown, prefix: string): void => {
    if (typeof o === "object" && o !== null && !Array.isArray(o)) {
      for (const [k, v] of Object.entries(o)) walk(v, prefix === "" ? k : `${prefix}.${k}`);
    } else if (prefix !== "") {
      props.set(prefix, typeof o === "boolean" ? (o ? "on" : "off") : String(o));
    }
  };
  walk(obj, "");
  return { props };
}

export function isOn(v: string | undefined): boolean {
  return v === "on" || v === "yes" || v === "true" || v === "y";
}

export const MONITOR_KINDS = ["qmp", "hmp"] as const;
export type MonitorKind = (typeof MONITOR_KINDS)[number];

/** One monitor found on the command line, with where it listens. */
export interface MonitorSpec {
  kind: MonitorKind;
  /** unix: a path QEMU listens on; tcp: host:port; other: stdio, pty, vc, an inherited fd … */
  transport: "unix" | "tcp" | "other";
  /** The Unix path, or host:port, or a description. */
  address: string;
  /** QEMU listens (server=on); a client-mode socket cannot be attached to. */
  server: boolean;
}

/** Collects every monitor: -qmp, -qmp-pretty, -monitor, and -mon chardev=ID over -chardev. */
export function findMonitors(options: readonly CmdOption[]): MonitorSpec[] {
  const chardevs = new Map<string, OptList>();
  for (const o of options) {
    if (o.name === "chardev" && o.value !== undefined) {
      const c = parseOptList(o.value);
      const id = c.props.get("id");
      if (id !== undefined) chardevs.set(id, c);
    }
  }
  const out: MonitorSpec[] = [];
  for (const o of options) {
    if (o.value === undefined) continue;
    if (o.name === "qmp" || o.name === "qmp-pretty") out.push(legacyChardev("qmp", o.value));
    else if (o.name === "monitor" && o.value !== "none") out.push(monitorOption(o.value, chardevs));
    else if (o.name === "mon") {
      const m = parseOptList(o.value);
      const mode = m.props.get("mode") ?? "readline";
      const cd = chardevs.get(m.props.get("chardev") ?? m.head ?? "");
      const kind: MonitorKind = mode === "control" ? "qmp" : "hmp";
      out.push(cd ? chardevMonitor(kind, cd) : { kind, transport: "other", address: `chardev ${m.props.get("chardev") ?? "?"}`, server: false });
    }
  }
  return out;
}

/** `-monitor chardev:ID` names a -chardev; anything else is a legacy backend string. */
function monitorOption(value: string, chardevs: Map<string, OptList>): MonitorSpec {
  if (value.startsWith("chardev:")) {
    const cd = chardevs.get(value.slice("chardev:".length));
    if (cd) return chardevMonitor("hmp", cd);
  }
  return legacyChardev("hmp", value);
}

/** `unix:PATH,server,nowait`, `tcp:HOST:PORT,server=on`, `stdio`, `pty` … */
function legacyChardev(kind: MonitorKind, value: string): MonitorSpec {
  const { head, props } = parseOptList(value);
  const spec = head ?? "";
  const server = isOn(props.get("server"));
  if (spec.startsWith("unix:")) return { kind, transport: "unix", address: spec.slice(5), server };
  if (spec.startsWith("tcp:") || spec.startsWith("telnet:") || spec.startsWith("websocket:")) {
    return { kind, transport: "tcp", address: spec.slice(spec.indexOf(":") + 1), server };
  }
  return { kind, transport: "other", address: spec, server };
}

/** `-chardev socket,id=X,path=P,server=on` or `…,host=H,port=N` or `…,fd=N`. */
function chardevMonitor(kind: MonitorKind, cd: OptList): MonitorSpec {
  const server = isOn(cd.props.get("server"));
  if (cd.head !== "socket") return { kind, transport: "other", address: cd.head ?? "?", server };
  const path = cd.props.get("path");
  if (path !== undefined) return { kind, transport: "unix", address: path, server };
  const port = cd.props.get("port");
  if (port !== undefined) return { kind, transport: "tcp", address: `${cd.props.get("host") ?? ""}:${port}`, server };
  return { kind, transport: "other", address: `inherited fd ${cd.props.get("fd") ?? "?"}`, server };
}

/**
 * The QMP socket to connect to, or a clear refusal.
 * @throws AgentError operation_invalid (no monitor socket at all), no_support (TCP-only,
 *   HMP-only, client-mode or fd-passed monitors).
 */
export function pickMonitor(pid: number, monitors: readonly MonitorSpec[]): MonitorSpec {
  const qmpUnix = monitors.find((m) => m.kind === "qmp" && m.transport === "unix" && m.server);
  if (qmpUnix) return qmpUnix;
  const fail = (code: "no_support" | "operation_invalid", why: string): never => {
    throw new AgentError(code, `pid ${pid}: ${why}`, { component: "qemu", details: { monitors } });
  };
  const unix = monitors.filter((m) => m.transport === "unix");
  if (unix.some((m) => m.server)) {
    fail("no_support", "only an HMP (human) monitor listens on a Unix socket; attach needs QMP (add -qmp unix:PATH,server=on,wait=off)");
  }
  if (unix.length > 0) fail("no_support", "the monitor socket is in client mode (QEMU connects out); attach needs server=on");
  if (monitors.some((m) => m.transport === "tcp")) fail("no_support", "only a Unix-socket monitor can be attached (this QEMU's monitor is on TCP)");
  if (monitors.length > 0) {
    const found = monitors.map((m) => `${m.kind} on ${m.address}`).join(", ");
    fail("no_support", `no monitor listens on a Unix path the agent can connect to (found: ${found})`);
  }
  fail("operation_invalid", "no monitor socket: start QEMU with -qmp unix:PATH,server=on,wait=off");
  return qmpUnix as never;
}
