/**
 * libvirt side of the scrape benchmark: libvirtd 9 runs the same guests (defined from the
 * same XML through python3-libvirt), Debian's prometheus-libvirt-exporter serves them, and
 * its /metrics is scraped with every guest answering, then with one guest's QEMU stopped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { execa } from "execa";
import { round } from "./lib.js";
import {
  freePort,
  scrapeCase,
  waitForHttp,
  type CaseResult,
} from "./scrape-http.js";
import type { SideOptions } from "./scrape-agent.js";

const EXPORTER = "/usr/bin/prometheus-libvirt-exporter";
/** Debian's python3-libvirt is built for the system interpreter, not a pyenv one on PATH. */
const PYTHON = "/usr/bin/python3";
const URI = "qemu:///system";
const PREFIX = "vb-scrape-libvirt-";

/** Defines and starts every guest read from stdin ([{name, xml}]); prints [pid, …] in order. */
const SETUP_PY = `
import json, sys, libvirt
conn = libvirt.open(sys.argv[1])
pids = []
for g in json.load(sys.stdin):
    conn.defineXML(g["xml"]).create()
    pids.append(int(open("/run/libvirt/qemu/%s.pid" % g["name"]).read().strip()))
print(json.dumps(pids))
`;

/** Destroys and undefines every domain whose name starts with argv[2]; prints how many. */
const TEARDOWN_PY = `
import sys, libvirt
conn = libvirt.open(sys.argv[1])
n = 0
for d in conn.listAllDomains():
    if not d.name().startswith(sys.argv[2]):
        continue
    if d.isActive():
        d.destroy()
    d.undefine()
    n += 1
print(n)
`;

export interface LibvirtSide {
  libvirt_version: string;
  started: number;
  start_ms_total: number;
  normal: CaseResult;
  /** Per frozen scrape: its time, libvirt_up, whether the frozen guest and how many guests had series. */
  frozen: CaseResult & {
    per_scrape_ms: number[];
    libvirt_up: (number | null)[];
    frozen_domain_series: boolean[];
    domains_served: number[];
  };
  frozen_domain: string;
  scrape_timeout_ms: number;
}

/** Fails with the Debian package to install when a libvirt piece is missing. */
export async function checkLibvirtTools(): Promise<void> {
  const missing: string[] = [];
  if (!existsSync(EXPORTER)) missing.push("prometheus-libvirt-exporter");
  if (!existsSync("/usr/sbin/libvirtd")) missing.push("libvirt-daemon-system");
  if (
    (await execa(PYTHON, ["-c", "import libvirt"], { reject: false }))
      .exitCode !== 0
  )
    missing.push("python3-libvirt");
  if ((await execa("virsh", ["--version"], { reject: false })).exitCode !== 0)
    missing.push("libvirt-clients");
  if (missing.length > 0)
    throw new Error(
      `scrape bench needs: apt-get install -y ${missing.join(" ")}`,
    );
}

export async function runLibvirtSide(
  opts: SideOptions,
  scrapeTimeoutMs: number,
): Promise<LibvirtSide> {
  await ensureLibvirtd(opts.onCleanup);
  await teardownGuests(); // leftovers of an interrupted earlier run
  const pids: number[] = [];
  opts.onCleanup(async () => {
    for (const pid of pids) signal(pid, "SIGCONT");
    await teardownGuests();
  });
  const t0 = performance.now();
  pids.push(...(await startGuests(opts)));
  const startMs = performance.now() - t0;
  const port = await freePort();
  const exporter = startExporter(port, opts.onCleanup);
  const url = `http://127.0.0.1:${port}/metrics`;
  await waitForHttp(url, 30_000).catch((err: Error) => {
    throw new Error(
      `${err.message}; exporter said: ${exporter.output().slice(-500)}`,
    );
  });
  const { result: normal } = await scrapeCase(url, {
    n: opts.scrapes,
    warmup: opts.warmup,
    timeoutMs: scrapeTimeoutMs,
  });
  const frozenDomain = `${PREFIX}0`;
  process.kill(pids[0]!, "SIGSTOP");
  const per: number[] = [];
  const ups: (number | null)[] = [];
  const present: boolean[] = [];
  const served: number[] = [];
  const { result: frozen } = await scrapeCase(url, {
    n: opts.frozenScrapes,
    warmup: 0,
    timeoutMs: scrapeTimeoutMs,
    onScrape: (s) => {
      per.push(round(s.ms, 0));
      ups.push(s.status === 200 ? scalar(s.body, "libvirt_up") : null);
      present.push(s.body.includes(`domain="${frozenDomain}"`));
      served.push(new Set(s.body.match(/domain="[^"]*"/g) ?? []).size);
    },
  });
  process.kill(pids[0]!, "SIGCONT");
  return {
    libvirt_version: await libvirtVersion(),
    started: pids.length,
    start_ms_total: round(startMs, 0),
    normal,
    frozen: {
      ...frozen,
      per_scrape_ms: per,
      libvirt_up: ups,
      frozen_domain_series: present,
      domains_served: served,
    },
    frozen_domain: frozenDomain,
    scrape_timeout_ms: scrapeTimeoutMs,
  };
}

async function startGuests(opts: SideOptions): Promise<number[]> {
  const guests = Array.from({ length: opts.guests }, (_, i) => ({
    name: `${PREFIX}${i}`,
    xml: opts.xml(`${PREFIX}${i}`),
  }));
  const r = await execa(PYTHON, ["-c", SETUP_PY, URI], {
    input: JSON.stringify(guests),
    reject: false,
  });
  if (r.exitCode !== 0)
    throw new Error(`libvirt guest setup failed: ${r.stderr.slice(-800)}`);
  return JSON.parse(r.stdout) as number[];
}

async function teardownGuests(): Promise<void> {
  const r = await execa(PYTHON, ["-c", TEARDOWN_PY, URI, PREFIX], {
    reject: false,
  });
  if (r.exitCode !== 0)
    process.stderr.write(
      `scrape bench: libvirt teardown failed: ${r.stderr.slice(-800)}\n`,
    );
}

function startExporter(
  port: number,
  onCleanup: SideOptions["onCleanup"],
): { proc: ChildProcess; output: () => string } {
  const proc = spawn(
    EXPORTER,
    [`--web.listen-address=127.0.0.1:${port}`, `--libvirt.uri=${URI}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on(
    "data",
    (d: Buffer) => (out = (out + d.toString()).slice(-4000)),
  );
  proc.stderr!.on(
    "data",
    (d: Buffer) => (out = (out + d.toString()).slice(-4000)),
  );
  const exited = new Promise<void>((resolve) =>
    proc.once("exit", () => resolve()),
  );
  onCleanup(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
  });
  return { proc, output: () => out };
}

async function virshOk(): Promise<boolean> {
  return (
    (await execa("virsh", ["-q", "-c", URI, "version"], { reject: false }))
      .exitCode === 0
  );
}

/** Starts virtlogd + libvirtd when they are not running, and stops them at cleanup if so. */
async function ensureLibvirtd(
  onCleanup: SideOptions["onCleanup"],
): Promise<void> {
  if (await virshOk()) return;
  await execa("virtlogd", ["-d"]);
  await execa("libvirtd", ["-d"]);
  onCleanup(async () => {
    for (const pidfile of ["/run/libvirtd.pid", "/run/virtlogd.pid"]) {
      const pid = Number(readFileSync(pidfile, "utf8").trim());
      if (Number.isSafeInteger(pid) && pid > 0) signal(pid, "SIGTERM");
    }
  });
  for (let i = 0; i < 150; i++) {
    if (await virshOk()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("libvirtd did not come up within 30 s");
}

async function libvirtVersion(): Promise<string> {
  const r = await execa("virsh", ["-c", URI, "version"], { reject: false });
  return r.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /daemon|library|hypervisor/i.test(l))
    .join("; ");
}

/** Value of an unlabelled sample, e.g. `libvirt_up 1`. */
function scalar(body: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{\\})?\\s+(\\S+)$`, "m").exec(body);
  return m ? Number(m[1]) : null;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
