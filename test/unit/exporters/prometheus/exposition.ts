/** A small reader of the Prometheus text format for assertions: `name{labels}` -> value. */
export type Samples = Map<string, number>;

export function parseExposition(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** The value of the one sample of `name` whose labels include every `labels` pair. */
export function valueOf(samples: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [key, v] of samples) {
    const brace = key.indexOf("{");
    const n = brace < 0 ? key : key.slice(0, brace);
    if (n === name && want.every((w) => key.includes(w))) return v;
  }
  return undefined;
}
