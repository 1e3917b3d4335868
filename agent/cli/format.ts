/** virsh-style human output. Pure functions over command results. */
import type { DomainInfo, DomainSummary } from "../control/views.js";
import type { EventEnvelope } from "../core/events.js";

/** virsh's state words. */
const STATE_WORDS: Record<string, string> = {
  nostate: "no state",
  running: "running",
  blocked: "idle",
  paused: "paused",
  shutdown: "in shutdown",
  shutoff: "shut off",
  crashed: "crashed",
  pmsuspended: "pmsuspended",
};

export function stateWord(state: string): string {
  return STATE_WORDS[state] ?? state;
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => ` ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("   ")}`.trimEnd();
  const total = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1) + 2;
  return [line(headers), "-".repeat(total), ...rows.map(line)].join("\n");
}

export function formatList(list: DomainSummary[]): string {
  return formatTable(
    ["Id", "Name", "State"],
    list.map((d) => [d.id === null ? "-" : String(d.id), d.name, stateWord(d.state)]),
  );
}

function kv(pairs: [string, string][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 2;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w)}${v}`).join("\n");
}

export function formatDominfo(i: DomainInfo): string {
  const pairs: [string, string][] = [
    ["Id", i.id === null ? "-" : String(i.id)],
    ["Name", i.name],
    ["UUID", i.uuid],
    ["OS Type", i.os_type],
    ["State", stateWord(i.state)],
    ["CPU(s)", String(i.vcpus)],
  ];
  if (i.cpu_time_ns !== null) pairs.push(["CPU time", `${(i.cpu_time_ns / 1e9).toFixed(1)}s`]);
  pairs.push(
    ["Max memory", `${i.max_memory_kib} KiB`],
    ["Used memory", `${i.used_memory_kib} KiB`],
    ["Persistent", i.persistent ? "yes" : "no"],
    ["Autostart", i.autostart ? "enable" : "disable"],
  );
  if (i.tainted) pairs.push(["Tainted", "yes (not started by virtbus)"]);
  return kv(pairs);
}

export function formatState(s: { state: string; reason: string }, withReason: boolean): string {
  return withReason ? `${stateWord(s.state)} (${s.reason})` : stateWord(s.state);
}

function capital(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

/** virsh event --loop's line format. */
export function formatEvent(ev: EventEnvelope): string {
  if (ev.name === "domain.lifecycle") {
    const p = ev.payload as { name: string; event: string; detail: string };
    return `event 'lifecycle' for domain '${p.name}': ${capital(p.event)} ${capital(p.detail)}`;
  }
  return `event '${ev.name}': ${JSON.stringify(ev.payload)}`;
}
