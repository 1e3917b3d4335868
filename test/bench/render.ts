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

Diskless guest (64 MiB, TCG, SeaBIOS), ${r["rounds"] as number} starts each.

${table(["path", "p50", "p99", "÷ raw (p50)"], rows)}

- virtbus vs raw QEMU (p50): ${ratio.toFixed(2)}× — target ≤ 1.25×: ${verdict(ratio <= 1.25)}.
- ${lvLine}
- Agent RSS with ${rss.guests} running guests: ${rss.rss_mb} MB — target ≤ 120 MB: ${verdict(rss.rss_mb <= 120)}.
`;
};

const renderDefault: Renderer = ({ bench, results }) => `## ${bench}

\`\`\`json
${JSON.stringify(results, null, 2)}
\`\`\`
`;

export const RENDERERS: Record<string, Renderer> = { start: renderStart, default: renderDefault };
