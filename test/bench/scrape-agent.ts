/**
 * Agent side of the scrape benchmark: the compiled agent runs `guests` TCG guests, /metrics
 * is scraped with every guest answering, then with one guest's QEMU stopped. Run once per
 * stats mode: forced fresh (a round on every scrape) and the default (background rounds).
 */
import { readFileSync } from "node:fs";
import { SocketRuntime } from "../../agent/cli/runtime.js";
import {
  startAgentProcess,
  type AgentProcess,
} from "../helpers/agent-process.js";
import { round, summarise } from "./lib.js";
import {
  freePort,
  scrapeCase,
  valuesByDomain,
  waitForHttp,
  type CaseResult,
  type Scrape,
} from "./scrape-http.js";

export interface SideOptions {
  guests: number;
  scrapes: number;
  frozenScrapes: number;
  warmup: number;
  xml: (name: string) => string;
  /** Cleanup steps registered while the side runs (signal handlers run them too). */
  onCleanup: (step: () => Promise<void>) => void;
}

/**
 * Forced fresh: every scrape pays a full collection round over all guests, as the libvirt
 * exporter does (the background interval is pushed out of the way).
 */
export const AGENT_STATS = {
  interval_ms: 3_600_000,
  deadline_ms: 500,
  freshness_ms: 0,
} as const;

/** The shipped defaults: a scrape serves the latest background round (freshness_ms absent). */
export const AGENT_STATS_DEFAULT = {
  interval_ms: 5000,
  deadline_ms: 500,
} as const;

export type AgentStats = typeof AGENT_STATS | typeof AGENT_STATS_DEFAULT;

export interface FrozenCheck {
  domain: string;
  stats_up_first: number | null;
  stats_up_last: number | null;
  stats_age_first_s: number | null;
  stats_age_last_s: number | null;
  others_up_last: number;
  others_total: number;
}

export interface AgentSide {
  config: AgentStats & { deadline_target_ms: number };
  started: number;
  start_ms_total: number;
  all_up_before: number;
  /** From the last normal scrape: the agent's own collection round and per-guest QMP round trips. */
  collector_round_ms_last: number | null;
  qmp_latency_ms_p50_last: number | null;
  normal: CaseResult;
  frozen: CaseResult;
  frozen_check: FrozenCheck;
}

const PREFIX = "vb-scrape-agent-";

/**
 * Starts an agent with `stats`, its guests, and measures. Before the frozen case it waits
 * `settleMs` so that a background round has seen the frozen guest (default mode: a scrape
 * does not collect, so only that round can mark it down).
 */
export async function runAgentSide(opts: SideOptions, stats: AgentStats = AGENT_STATS, settleMs = 0): Promise<AgentSide> {
  const port = await freePort();
  const agent = await startAgentProcess(
    {
      hypervisor: { driver: "qemu" },
      log_level: "warn",
      prometheus: {
        enabled: true,
        listen: `127.0.0.1:${port}`,
        stats,
      },
    },
    undefined,
    { compiled: true },
  );
  const rt = await SocketRuntime.connect(agent.socket);
  const pids: number[] = [];
  opts.onCleanup(() => teardown(agent, rt, pids, opts.guests));
  const t0 = performance.now();
  for (let i = 0; i < opts.guests; i++)
    pids.push(await startGuest(rt, `${PREFIX}${i}`, opts.xml));
  const startMs = performance.now() - t0;
  const url = `http://127.0.0.1:${port}/metrics`;
  await waitForHttp(url, 10_000);
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  const { result: normal, last } = await scrapeCase(url, {
    n: opts.scrapes,
    warmup: opts.warmup,
    timeoutMs: 60_000,
  });
  const upBefore = [
    ...valuesByDomain(last?.body ?? "", "virtbus_domain_stats_up").values(),
  ].filter((v) => v === 1).length;
  const frozenName = `${PREFIX}0`;
  process.kill(pids[0]!, "SIGSTOP");
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  let first: Scrape | undefined;
  const { result: frozen, last: lastFrozen } = await scrapeCase(url, {
    n: opts.frozenScrapes,
    warmup: 0,
    timeoutMs: 60_000,
    onScrape: (s, i) => (i === 0 ? (first = s) : undefined),
  });
  process.kill(pids[0]!, "SIGCONT");
  return {
    config: { ...stats, deadline_target_ms: 1000 },
    started: pids.length,
    start_ms_total: round(startMs, 0),
    all_up_before: upBefore,
    ...selfTiming(last?.body ?? ""),
    normal,
    frozen,
    frozen_check: checkFrozen(
      frozenName,
      first?.body ?? "",
      lastFrozen?.body ?? "",
    ),
  };
}

async function startGuest(
  rt: SocketRuntime,
  name: string,
  xml: (n: string) => string,
): Promise<number> {
  await rt.call("domain.define", { xml: xml(name) });
  await rt.call("domain.start", { domain: name });
  const info = (await rt.call("domain.info", { domain: name })) as {
    pid: number | null;
  };
  if (!info.pid)
    throw new Error(`agent reports no pid for running guest ${name}`);
  return info.pid;
}

function selfTiming(
  body: string,
): Pick<AgentSide, "collector_round_ms_last" | "qmp_latency_ms_p50_last"> {
  const m =
    /^virtbus_scrape_collector_duration_seconds\{[^}]*\}\s+(\S+)$/m.exec(body);
  const qmp = [
    ...valuesByDomain(body, "virtbus_domain_qmp_latency_seconds").values(),
  ];
  return {
    collector_round_ms_last: m ? round(Number(m[1]) * 1000, 1) : null,
    qmp_latency_ms_p50_last:
      qmp.length > 0 ? round(summarise(qmp).p50 * 1000, 2) : null,
  };
}

function checkFrozen(
  domain: string,
  firstBody: string,
  lastBody: string,
): FrozenCheck {
  const at = (body: string, metric: string) =>
    valuesByDomain(body, metric).get(domain) ?? null;
  const lastUp = valuesByDomain(lastBody, "virtbus_domain_stats_up");
  const others = [...lastUp.entries()].filter(([d]) => d !== domain);
  return {
    domain,
    stats_up_first: at(firstBody, "virtbus_domain_stats_up"),
    stats_up_last: at(lastBody, "virtbus_domain_stats_up"),
    stats_age_first_s: at(firstBody, "virtbus_domain_stats_age_seconds"),
    stats_age_last_s: at(lastBody, "virtbus_domain_stats_age_seconds"),
    others_up_last: others.filter(([, v]) => v === 1).length,
    others_total: others.length,
  };
}

/** SIGCONT first (a stopped QEMU cannot be powered off through QMP), then destroy, undefine, stop. */
async function teardown(
  agent: AgentProcess,
  rt: SocketRuntime,
  pids: number[],
  guests: number,
): Promise<void> {
  for (const pid of pids) signal(pid, "SIGCONT");
  for (let i = 0; i < guests; i++) {
    const domain = `${PREFIX}${i}`;
    await rt.call("domain.destroy", { domain }).catch(() => undefined);
    await rt.call("domain.undefine", { domain }).catch(() => undefined);
  }
  await rt.close();
  await agent.stop();
  // Anything the agent failed to power off must not outlive the benchmark.
  for (const pid of pids) if (isOurQemu(pid)) signal(pid, "SIGKILL");
}

/** Guards the last-resort kill against pid reuse: the process must still be one of our guests. */
export function isOurQemu(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return argv.includes("qemu-system") && argv.includes("vb-scrape-");
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
