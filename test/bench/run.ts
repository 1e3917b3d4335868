/**
 * `npm run bench`: runs every benchmark in its own process (so one's guests and heap do not
 * disturb another's), collects the `BENCH {json}` line each prints, and rewrites
 * BENCHMARKS.md with the numbers and the ratios against the references measured in the
 * same run. `npm run bench -- start amqp` runs a subset.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { RENDERERS, type BenchOutput } from "./render.js";

const ALL = ["start", "send-key", "amqp", "snmp-walk", "scrape"];

function runOne(name: string): Promise<BenchOutput | { bench: string; error: string }> {
  const file = `test/bench/${name}.ts`;
  if (!existsSync(file)) return Promise.resolve({ bench: name, error: `${file} does not exist` });
  process.stderr.write(`bench: ${name} …\n`);
  return new Promise((resolve) => {
    const cp = spawn(process.execPath, ["--expose-gc", "--import", "tsx", file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    cp.stdout.on("data", (d: Buffer) => (out += d.toString()));
    cp.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    cp.on("exit", (code) => {
      const parsed = code === 0 ? parseOutput(name, out) : undefined;
      resolve(parsed ?? { bench: name, error: `exit ${code}: ${err.trim().split("\n").slice(-5).join(" | ")}` });
    });
  });
}

/** A `BENCH {json}` line, or else the last JSON object the script printed (possibly pretty-printed). */
function parseOutput(name: string, out: string): BenchOutput | undefined {
  const line = out.split("\n").reverse().find((l) => l.startsWith("BENCH "));
  if (line) return JSON.parse(line.slice(6)) as BenchOutput;
  for (let i = out.lastIndexOf("{"); i >= 0; i = out.lastIndexOf("{", i - 1)) {
    if (i > 0 && out[i - 1] !== "\n") continue;
    try {
      return { bench: name, results: JSON.parse(out.slice(i)) as Record<string, unknown> };
    } catch {
      // not the start of the object yet: keep walking back
    }
  }
  return undefined;
}

const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
const results: Record<string, BenchOutput | { bench: string; error: string }> = {};
for (const name of wanted) results[name] = await runOne(name);

const previous = existsSync("BENCHMARKS.md") ? readFileSync("BENCHMARKS.md", "utf8") : "";
const sections = new Map<string, string>();
for (const m of previous.matchAll(/<!-- bench:(\S+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g)) sections.set(m[1]!, m[2]!);
for (const [name, r] of Object.entries(results)) {
  const body = "error" in r ? `**${name}: did not run** — ${r.error}\n` : (RENDERERS[name] ?? RENDERERS["default"]!)(r);
  sections.set(name, `${body}\n_Measured ${new Date().toISOString().slice(0, 16)}Z on ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}._\n`);
}
const head = `# Benchmarks

Produced by \`npm run bench\` (test/bench/). Every number is measured side by side with its
reference in the same run, on the same machine; ratios are virtbus ÷ reference (lower is better
for times). Targets come from the issues. Re-run after touching a hot path.
`;
const body = ALL.filter((n) => sections.has(n)).map((n) => `<!-- bench:${n} -->\n${sections.get(n)}<!-- /bench:${n} -->`);
writeFileSync("BENCHMARKS.md", `${head}\n${body.join("\n\n")}\n`);
process.stderr.write("bench: wrote BENCHMARKS.md\n");
