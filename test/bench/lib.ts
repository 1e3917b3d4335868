/** Small helpers shared by the benchmarks: percentiles, timing, JSON result lines. */
import { createServer, connect, type Server, type Socket } from "node:net";
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

/** A raw QMP connection: line-delimited JSON, each command answered by its id, nothing more. */
export class RawQmp {
  private buf = "";
  private id = 0;
  private readonly waiting = new Map<number, () => void>();
  private greeted: (() => void) | undefined;

  constructor(private readonly s: Socket) {
    s.setEncoding("utf8");
    s.on("data", (d: string) => this.onData(d));
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async open(path: string): Promise<RawQmp> {
    const s = connect(path);
    const q = new RawQmp(s);
    await new Promise<void>((resolve, reject) => {
      q.greeted = resolve;
      s.once("error", reject);
    });
    await q.execute("qmp_capabilities");
    return q;
  }

  execute(command: string, args?: unknown): Promise<void> {
    const id = ++this.id;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.s.write(`${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`);
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const msg = JSON.parse(this.buf.slice(0, nl)) as { QMP?: unknown; id?: number; error?: { desc: string } };
      this.buf = this.buf.slice(nl + 1);
      if (msg.QMP !== undefined) this.greeted?.();
      if (msg.error) throw new Error(`QMP: ${msg.error.desc}`);
      if (typeof msg.id === "number") {
        this.waiting.get(msg.id)?.();
        this.waiting.delete(msg.id);
      }
    }
  }

  close(): void {
    this.s.destroy();
  }
}
