/** Markdown renderers for each benchmark's JSON result (see run.ts). */

export interface BenchOutput {
  bench: string;
  results: Record<string, unknown>;
}

type Renderer = (r: BenchOutput) => string;

type S = { n: number; p50: number; p99: number; mean?: number };

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(2)} ms`);
const verdict = (ok: boolean): string => (ok ? "**met**" : "**not met**");

function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

const renderStart: Renderer = ({ results: r }) => {
  const raw = r["raw_qemu_ms"] as S;
  const vb = r["virtbus_ms"] as S;
  const lv = r["libvirt_ms"] as S | string;
  const rss = r["rss"] as { guests: number; rss_mb: number };
  const ratio = r["ratio_vs_raw_p50"] as number;
  const rows = [
    ["raw QEMU: spawn (-S, monitor fd) → first QMP reply", ms(raw.p50), ms(raw.p99), "1.00"],
    ["virtbus: domain.start → running reply", ms(vb.p50), ms(vb.p99), ratio.toFixed(2)],
  ];
  const vs = r["virsh_start_ms"] as S | undefined;
  if (typeof lv === "object") rows.push(["libvirt 9: virDomainCreate (API, python3-libvirt)", ms(lv.p50), ms(lv.p99), (lv.p50 / raw.p50).toFixed(2)]);
  if (vs) rows.push(["libvirt 9: `virsh start` (incl. virsh start-up)", ms(vs.p50), ms(vs.p99), (vs.p50 / raw.p50).toFixed(2)]);
  const lvLine =
    typeof lv === "object"
      ? `virtbus vs libvirt API (p50): ${(vb.p50 / lv.p50).toFixed(2)}× — target faster than libvirt: ${verdict(vb.p50 < lv.p50)}.`
      : `libvirt: ${lv}`;
  return `## Guest start (issue #2)

Diskless guest (64 MiB, TCG, SeaBIOS), ${r["rounds"] as number} starts each, raw and virtbus taking turns.

${table(["path", "p50", "p99", "÷ raw (p50)"], rows)}

- virtbus vs raw QEMU (p50): ${ratio.toFixed(2)}× — target ≤ 1.25×: ${verdict(ratio <= 1.25)}.
- ${lvLine}
${r["libvirt_note"] ? `- Setup: ${r["libvirt_note"] as string}.\n` : ""}- Agent RSS with ${rss.guests} running guests: ${rss.rss_mb} MB — target ≤ 120 MB: ${verdict(rss.rss_mb <= 120)}.
`;
};

type P = { p50: number; p99: number };

const renderAmqp: Renderer = ({ results: r }) => {
  const raw = r["raw_rpc_ms"] as P;
  const rawQ = (r["raw_rpc_quorum_ms"] as P | undefined) ?? raw;
  const ping = r["agent_ping_ms"] as P;
  const lat = r["event_latency_ms"] as P;
  const eps = r["events_per_s_confirmed"] as number;
  const key = r["agent_send_key_ms"] as P | undefined;
  const rawKey = r["raw_send_key_rpc_ms"] as P | undefined;
  const rawContract = r["raw_send_key_contract_ms"] as P | undefined;
  const over = (x: P, base: P) => `+${(x.p50 - base.p50).toFixed(2)} ms`;
  const rows = [
    ["raw amqplib RPC, classic queue", ms(raw.p50), ms(raw.p99), "–"],
    ["raw amqplib RPC, quorum queue (the agent's topology)", ms(rawQ.p50), ms(rawQ.p99), "–"],
    ["virtbus `host.ping` over the bus", ms(ping.p50), ms(ping.p99), `${over(ping, rawQ)} (quorum), ${over(ping, raw)} (classic)`],
  ];
  if (rawKey) rows.push(["raw quorum RPC whose server process sends QMP `send-key` to its own guest (reference)", ms(rawKey.p50), ms(rawKey.p99), "–"]);
  if (rawKey && rawContract) rows.push(["the same raw server speaking the bus contract (agent's messages via FleetClient, reply exchange)", ms(rawContract.p50), ms(rawContract.p99), over(rawContract, rawKey)]);
  if (key) rows.push(["virtbus `domain.send_key` to a real guest over the bus (agent process)", ms(key.p50), ms(key.p99), rawKey ? over(key, rawKey) : over(key, rawQ)]);
  const cpu = r["send_key_cpu_us_per_call"] as { agent: number; raw: number } | undefined;
  const load = r["loadavg"] as number[] | undefined;
  const block = r["block"] as number | undefined;
  const how = block ? `taking turns in blocks of ${block} back-to-back calls` : "interleaved call by call";
  return `## AMQP bus (issue #3; send_key over the bus: issue #4)

${r["calls"] as number} calls per path, ${how}, loopback broker${load ? ` (1-min load ${load[0]})` : ""}.

${table(["path", "p50", "p99", "p50 over raw"], rows)}

- Agent p50 ≤ raw + 0.5 ms: ${verdict(ping.p50 <= rawQ.p50 + 0.5)} against a raw quorum-queue RPC, ${verdict(ping.p50 <= raw.p50 + 0.5)} against a raw classic-queue RPC; agent p99 ≤ 10 ms: ${verdict(ping.p99 <= 10)}.
- Events published with confirms: ${eps}/s — target ≥ 5,000/s: ${verdict(eps >= 5000)}.
- Event → consumer latency: p50 ${ms(lat.p50)}, p99 ${ms(lat.p99)} — target p99 ≤ 5 ms: ${verdict(lat.p99 <= 5)}.
${key && rawKey ? `- \`domain.send_key\` over the bus, p50 overhead over the same RPC doing raw QMP ≤ 0.5 ms (issue #4): ${verdict(key.p50 - rawKey.p50 <= 0.5)}. Each server is a process of its own: the compiled agent on its default config (QEMU driver, info-level log, journal, audit events) and test/bench/bus-raw-server.ts, which relays each command as one raw QMP \`send-key\` to a QEMU it launched with the agent's argv. The agent's start record is written before the key is sent and fsync'ed in the background (\`amqp.volatile_sync: background\`, the default; docs/amqp.md says what that trades).${cpu ? ` CPU per command: agent ${cpu.agent} µs, raw server ${cpu.raw} µs.` : ""}${rawContract ? ` Of the overhead, ${(rawContract.p50 - rawKey.p50).toFixed(2)} ms is the bus contract (envelope and reply on the command and reply exchanges, FleetClient), which the raw server speaking it pays too, and ${(key.p50 - rawContract.p50).toFixed(2)} ms the agent's own work (validation, journal, dispatch, audit).` : ""}\n` : ""}`;
};

/** The AgentX walks' verdict, TCP and unix socket, against the standalone target. */
function agentxLine(r: Record<string, unknown>): string {
  const worst = (via: string) => Math.max(r[`${via}_libvirt_guest_table_walk_ms`] as number, r[`${via}_vm_table_walk_ms`] as number);
  if (r["agentx_vm_table_walk_ms"] === undefined) return "";
  const perVarbind = (via: string) => Math.round(((r[`${via}_vm_table_walk_ms`] as number) * 1000) / (r["vm_table_varbinds"] as number));
  const unix = r["agentx_unix_vm_table_walk_ms"] === undefined ? "" : `, over a unix socket (\`snmp.agentx.socket\`, Net-SNMP's default transport) ${verdict(worst("agentx_unix") <= 1000)}`;
  return `- Through snmpd as its AgentX subagent, against the same 1 s: over TCP ${verdict(worst("agentx") <= 1000)}${unix}. snmpd asks a subagent one AgentX GetNext per varbind, even for a GETBULK, so every varbind is a round trip between the two processes (${perVarbind("agentx")} µs each over TCP${unix ? `, ${perVarbind("agentx_unix")} µs over the unix socket` : ""}); profiled, the agent's part of it is mostly the write(2) of each answer, which wakes snmpd, and the lookup a few µs.\n`;
}

const renderSnmp: Renderer = ({ results: r }) => {
  const g = r["libvirt_guest_table_walk_ms"] as number;
  const v = r["vm_table_walk_ms"] as number;
  const heap = r["heap_used_mb"] as number;
  return `## SNMP walk (issue #5)

${r["guests"] as number} guests (fake driver), full \`snmpbulkwalk -Cr50\` with Net-SNMP's own tool.

${table(
  ["walk", "time", "varbinds"],
  [
    ["libvirtGuestTable (warm)", `${g} ms`, String(r["libvirt_guest_table_varbinds"])],
    ["libvirtGuestTable (cold: view rebuilt)", `${r["libvirt_guest_table_walk_cold_ms"] as number} ms`, String(r["libvirt_guest_table_varbinds"])],
    ["vmTable", `${v} ms`, String(r["vm_table_varbinds"])],
    ...(r["agentx_vm_table_walk_ms"] === undefined
      ? []
      : [
          ["libvirtGuestTable through snmpd, agent as AgentX subagent (TCP)", `${r["agentx_libvirt_guest_table_walk_ms"] as number} ms`, String(r["libvirt_guest_table_varbinds"])],
          ["vmTable through snmpd, agent as AgentX subagent (TCP)", `${r["agentx_vm_table_walk_ms"] as number} ms`, String(r["vm_table_varbinds"])],
          ...(r["agentx_unix_vm_table_walk_ms"] === undefined
            ? []
            : [
                ["libvirtGuestTable through snmpd, AgentX on a unix socket", `${r["agentx_unix_libvirt_guest_table_walk_ms"] as number} ms`, String(r["libvirt_guest_table_varbinds"])],
                ["vmTable through snmpd, AgentX on a unix socket", `${r["agentx_unix_vm_table_walk_ms"] as number} ms`, String(r["vm_table_varbinds"])],
              ]),
        ]),
    ...(r["real_guests"] === undefined
      ? []
      : [
          [`libvirtGuestTable, ${r["real_guests"] as number} real QEMU guests`, `${r["real_libvirt_guest_table_walk_ms"] as number} ms`, String(r["real_libvirt_guest_table_varbinds"])],
          [`vmTable, ${r["real_guests"] as number} real QEMU guests`, `${r["real_vm_table_walk_ms"] as number} ms`, "–"],
        ]),
  ],
)}

- Walk ≤ 1 s at 1,000 guests: ${verdict(Math.max(g, v) <= 1000)}. Agent heap ${heap} MB — target ≤ 150 MB: ${verdict(heap <= 150)}.
${agentxLine(r)}- Reference design: libvirt-snmp reloads its whole table from libvirt every 5 seconds and builds one
  net-snmp row object per guest (a UUID-indexed net-snmp table costs ~406 MB at 2,000 rows, DESIGN.md §5);
  virtbus answers GET/GETNEXT/GETBULK from one sorted OID view rebuilt only when the state store changes.
`;
};

const renderSendKey: Renderer = ({ results: r }) => {
  const raw = r["raw_qmp_ms"] as P;
  const d = r["agent_dispatch_ms"] as P;
  const c = r["agent_cli_socket_ms"] as P;
  const od = r["overhead_p50_dispatch_ms"] as number;
  const oc = r["overhead_p50_cli_socket_ms"] as number;
  return `## send-key (issue #4)

${r["calls"] as number} interleaved calls per path to one real guest (TCG). "Raw" is a bare QMP
\`send-key\` on the monitor connection (QEMU allows one client per monitor socket).

${table(
  ["path", "p50", "p99", "p50 overhead"],
  [
    ["raw QMP send-key (reference)", ms(raw.p50), ms(raw.p99), "–"],
    ["virtbus dispatch (validation, qcode check, per-guest lock)", ms(d.p50), ms(d.p99), `+${od.toFixed(3)} ms`],
    ["virtbus CLI socket round trip", ms(c.p50), ms(c.p99), `+${oc.toFixed(3)} ms`],
  ],
)}

- p50 overhead ≤ 0.5 ms: ${verdict(Math.max(od, oc) <= 0.5)}.
`;
};

type Case = { latency_ms: S & { max: number }; non_200: number; timeouts: number; series_last: number };
type Side = { normal: Case; frozen: Case; config?: Record<string, number> };

const renderScrape: Renderer = ({ results: r }) => {
  const a = r["agent"] as Side;
  const d = r["agent_default"] as Side | undefined;
  const l = r["libvirt"] as Side;
  const sum = r["summary"] as Record<string, number | boolean>;
  const speed = (x: Case) => (l.normal.latency_ms.p50 / x.latency_ms.p50).toFixed(1);
  const rows = [["prometheus-libvirt-exporter + libvirtd 9", ms(l.normal.latency_ms.p50), ms(l.normal.latency_ms.p99), ms(l.frozen.latency_ms.max), "1.0"]];
  if (d) rows.push(["virtbus, default (served from the background round)", ms(d.normal.latency_ms.p50), ms(d.normal.latency_ms.p99), ms(d.frozen.latency_ms.max), speed(d.normal)]);
  rows.push(["virtbus, forced fresh (collects on every scrape, like the exporter)", ms(a.normal.latency_ms.p50), ms(a.normal.latency_ms.p99), ms(a.frozen.latency_ms.max), speed(a.normal)]);
  const best = d ? Math.max(Number(speed(d.normal)), Number(speed(a.normal))) : Number(speed(a.normal));
  const frozenOk = sum["agent_frozen_within_deadline"] === true;
  const bt = "`";
  return `## Prometheus scrape (issue #6)

${r["guests"] as number} running guests (TCG, 1 MiB virtio disk each) from the same XML under each stack, one
stack at a time; ${r["scrapes_per_case"] as number} sequential scrapes per case after a warm-up. "Frozen": one
guest's QEMU stopped with SIGSTOP.

${table(["stack", "p50", "p99", "max with a frozen guest", "speed-up (p50)"], rows)}

- ≥ 5× faster than the exporter at ${r["guests"] as number} guests: ${verdict(best >= 5)} (best mode ${best.toFixed(1)}×).
- With a frozen guest the agent answers within its 1 s deadline: ${verdict(frozenOk)} (max ${ms(a.frozen.latency_ms.max)},
  the frozen guest reported with ${bt}virtbus_domain_stats_up 0${bt} and a growing age); the exporter: max
  ${ms(l.frozen.latency_ms.max)}, ${l.frozen.timeouts} timeout(s) at 60 s, ${l.frozen.non_200} non-200.
`;
};

const renderDefault: Renderer = ({ bench, results }) => `## ${bench}

\`\`\`json
${JSON.stringify(results, null, 2)}
\`\`\`
`;

export const RENDERERS: Record<string, Renderer> = { start: renderStart, amqp: renderAmqp, "snmp-walk": renderSnmp, "send-key": renderSendKey, scrape: renderScrape, default: renderDefault };
