/** Small helpers shared by the benchmarks: percentiles, timing, JSON result lines. */
import { createServer, connect, type Server } from "node:net";
import { rename } from "node:fs/promises";

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function summarise(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean, min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Prints the one JSON line test/bench/run.ts collects. */
export function emit(bench: string, results: unknown): void {
  process.stdout.write(`BENCH ${JSON.stringify({ bench, results })}\n`);
}

/** A listening unix socket moved to `path` (libuv unlinks the path it bound when closed). */
export async function listenAt(path: string): Promise<Server> {
  const tmp = `${path}.tmp`;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(tmp, () => resolve());
  });
  await rename(tmp, path);
  return server;
}

/** Minimal raw QMP: connect, read the greeting, send qmp_capabilities, resolve on its reply. */
export function rawQmpHandshake(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = "";
    let sent = false;
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if ("QMP" in msg && !sent) {
          sent = true;
          s.write('{"execute":"qmp_capabilities","id":1}\n');
        } else if ("return" in msg) {
          s.end();
          resolve();
        }
      }
    });
    s.on("error", reject);
  });
}
