/**
 * Timed HTTP scrapes of a /metrics endpoint and the few exposition-format reads the
 * scrape benchmark needs (test/bench/scrape.ts).
 */
import { get } from "node:http";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { round, summarise, type Summary } from "./lib.js";

export interface Scrape {
  ms: number;
  status: number;
  bytes: number;
  timedOut: boolean;
  error?: string;
  body: string;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr
          ? resolve(addr.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/**
 * One GET on a fresh connection (no keep-alive, so neither side gets a warm socket),
 * timed from the request to the last byte of the body. Never rejects.
 */
export function timedGet(url: string, timeoutMs: number): Promise<Scrape> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (s: Omit<Scrape, "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, ...s });
    };
    const req = get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        done({
          status: res.statusCode ?? 0,
          bytes: body.length,
          timedOut: false,
          body: body.toString("utf8"),
        });
      });
      res.on("error", (err) =>
        done({
          status: res.statusCode ?? 0,
          bytes: 0,
          timedOut: false,
          error: err.message,
          body: "",
        }),
      );
    });
    const timer = setTimeout(() => {
      done({
        status: 0,
        bytes: 0,
        timedOut: true,
        error: `no full response within ${timeoutMs} ms`,
        body: "",
      });
      req.destroy();
    }, timeoutMs);
    req.on("error", (err) =>
      done({
        status: 0,
        bytes: 0,
        timedOut: false,
        error: err.message,
        body: "",
      }),
    );
  });
}

/** Polls `url` until it answers 200 (an exporter that is still starting refuses connections). */
export async function waitForHttp(
  url: string,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await timedGet(url, Math.max(1000, until - Date.now()));
    if (r.status === 200) return;
    if (Date.now() > until)
      throw new Error(
        `${url} did not answer 200 within ${timeoutMs} ms (${r.error ?? r.status})`,
      );
    await new Promise((res) => setTimeout(res, 200));
  }
}

export interface CaseResult {
  latency_ms: Summary;
  scrapes: number;
  non_200: number;
  timeouts: number;
  /** Scrapes slower than STALL_MS. */
  stalls: number;
  stall_threshold_ms: number;
  max_ms: number;
  bytes_p50: number;
  series_last: number;
  load_avg_1m_before: number;
  errors: string[];
}

export const STALL_MS = 5000;

/** `n` sequential scrapes after `warmup` untimed ones; `onScrape` sees each timed scrape. */
export async function scrapeCase(
  url: string,
  opts: {
    n: number;
    warmup: number;
    timeoutMs: number;
    onScrape?: (s: Scrape, i: number) => void;
  },
): Promise<{ result: CaseResult; last: Scrape | undefined }> {
  for (let i = 0; i < opts.warmup; i++) await timedGet(url, opts.timeoutMs);
  const load = loadavg()[0] ?? NaN;
  const all: Scrape[] = [];
  for (let i = 0; i < opts.n; i++) {
    const got = await timedGet(url, opts.timeoutMs);
    opts.onScrape?.(got, i);
    all.push(got);
  }
  return { result: summariseCase(all, load), last: all.at(-1) };
}

function summariseCase(all: Scrape[], load: number): CaseResult {
  const ms = all.map((s) => s.ms);
  const sum = summarise(ms);
  const rounded = Object.fromEntries(
    Object.entries(sum).map(([k, v]) => [k, k === "n" ? v : round(v, 1)]),
  ) as unknown as Summary;
  const ok = all.filter((s) => s.status === 200);
  return {
    latency_ms: rounded,
    scrapes: all.length,
    non_200: all.length - ok.length,
    timeouts: all.filter((s) => s.timedOut).length,
    stalls: all.filter((s) => s.ms > STALL_MS).length,
    stall_threshold_ms: STALL_MS,
    max_ms: round(sum.max, 1),
    bytes_p50: summarise(ok.map((s) => s.bytes)).p50,
    series_last: countSeries(ok.at(-1)?.body ?? ""),
    load_avg_1m_before: round(load, 2),
    errors: [
      ...new Set(
        all.flatMap((s) =>
          s.error
            ? [s.error]
            : s.status !== 200
              ? [`HTTP ${s.status}: ${s.body.slice(0, 200)}`]
              : [],
        ),
      ),
    ],
  };
}

/** Number of samples (non-comment lines) in an exposition-format body. */
export function countSeries(body: string): number {
  return body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
}

/** Values of `name` whose label set contains domain="…", keyed by domain. */
export function valuesByDomain(
  body: string,
  name: string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /domain="([^"]*)"[^}]*\}\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
