/**
 * send-key latency: the agent's path (dispatch → validation → qcode check → QemuDriver →
 * QMP) in-process and over the CLI control socket, against raw QMP `send-key` on the same
 * guest. QEMU serves one client per monitor socket and the driver holds it, so "raw" is a
 * bare `execute("send-key")` on the driver's own QMP connection: exactly QMP's cost, none
 * of the agent's. The three paths are interleaved call by call so they share conditions.
 * Prints `BENCH {json}` for test/bench/run.ts.
 */
import { join } from "node:path";
import { silentLogger } from "../../agent/core/log.js";
import { SocketRuntime } from "../../agent/cli/runtime.js";
import type { QmpClient } from "../../agent/drivers/qemu/qmp.js";
import { LocalSocketServer } from "../../agent/exporters/local/socket-server.js";
import { CALLER, startKeyGuest } from "../integration/keys/guest-fixture.js";
import { emit, round, summarise, type Summary } from "./lib.js";

const CALLS = Number(process.env["SEND_KEY_CALLS"] ?? 500);
const WARMUP = 50;

type Peek = { sup: { requireRuntime(uuid: string): { proc: { qmp: QmpClient } } } };

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function rounded(s: Summary): Record<string, number> {
  return { n: s.n, p50: round(s.p50, 3), p90: round(s.p90, 3), p99: round(s.p99, 3), mean: round(s.mean, 3) };
}

const g = await startKeyGuest("keys-probe");
const sockPath = join(g.dirs.root, "bench.sock");
const server = new LocalSocketServer({ path: sockPath, dispatcher: g.dispatcher, bus: g.bus, log: silentLogger() });
await server.start();
const rt = await SocketRuntime.connect(sockPath);
try {
  const qmp = (g.driver as unknown as Peek).sup.requireRuntime(g.uuid).proc.qmp;
  // Shift alone types nothing, so thousands of presses leave the guest's tty alone.
  const args = { domain: "keys-probe", keys: ["KEY_LEFTSHIFT"] };
  const paths: Record<string, () => Promise<unknown>> = {
    raw_qmp: () => qmp.execute("send-key", { keys: [{ type: "qcode", data: "shift" }], "hold-time": 0 }),
    agent_dispatch: () => g.dispatcher.dispatch("domain.send_key", args, CALLER),
    agent_cli_socket: () => rt.call("domain.send_key", args),
  };
  const samples: Record<string, number[]> = { raw_qmp: [], agent_dispatch: [], agent_cli_socket: [] };
  for (let i = 0; i < WARMUP + CALLS; i++) {
    for (const [name, fn] of Object.entries(paths)) {
      const ms = await time(fn);
      if (i >= WARMUP) samples[name]!.push(ms);
    }
  }
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)]));
  const raw = s["raw_qmp"]!;
  emit("send-key", {
    calls: CALLS,
    raw_qmp_ms: rounded(raw),
    agent_dispatch_ms: rounded(s["agent_dispatch"]!),
    agent_cli_socket_ms: rounded(s["agent_cli_socket"]!),
    overhead_p50_dispatch_ms: round(s["agent_dispatch"]!.p50 - raw.p50, 3),
    overhead_p50_cli_socket_ms: round(s["agent_cli_socket"]!.p50 - raw.p50, 3),
  });
} finally {
  await rt.close();
  await server.stop();
  await g.stop();
}
