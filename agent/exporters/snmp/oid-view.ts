/**
 * A sorted, immutable snapshot of every instance the agent serves, answering GET, GETNEXT
 * and GETBULK by binary search. It replaces net-snmp's per-row Mib tree (about 406 MB at
 * 2,000 UUID-indexed rows, DESIGN.md §5) with two flat arrays.
 */
import { compareOid, formatOid, type Oid } from "./oid.js";
import type { SnmpValue } from "./value.js";

export interface Instance {
  oid: Oid;
  value: SnmpValue;
}

export type Lookup = { kind: "value"; oid: Oid; value: SnmpValue } | { kind: "noSuchObject" | "noSuchInstance" | "endOfMibView"; oid: Oid };

export class OidView {
  private readonly items: Instance[];

  /** `roots` are the subtrees this view answers for (GET below one of them is noSuchInstance). */
  constructor(
    items: Instance[],
    private readonly roots: readonly Oid[],
  ) {
    this.items = items.sort((a, b) => compareOid(a.oid, b.oid));
  }

  get size(): number {
    return this.items.length;
  }

  get(oid: Oid): Lookup {
    const i = this.lowerBound(oid);
    const hit = this.items[i];
    if (hit && compareOid(hit.oid, oid) === 0) return { kind: "value", oid: hit.oid, value: hit.value };
    const inRoot = this.roots.some((r) => r.length <= oid.length && r.every((n, k) => oid[k] === n));
    return { kind: inRoot ? "noSuchInstance" : "noSuchObject", oid };
  }

  /** The first instance strictly after `oid` (and, when given, strictly before `end`). */
  next(oid: Oid, end?: Oid): Lookup {
    let i = this.lowerBound(oid);
    const at = this.items[i];
    if (at && compareOid(at.oid, oid) === 0) i++;
    const hit = this.items[i];
    if (!hit || (end && end.length > 0 && compareOid(hit.oid, end) >= 0)) return { kind: "endOfMibView", oid };
    return { kind: "value", oid: hit.oid, value: hit.value };
  }

  /** GETBULK per RFC 3416 §4.2.3: non-repeaters once, then repeaters row by row. */
  bulk(oids: Oid[], nonRepeaters: number, maxRepetitions: number, maxVarbinds = 2000): Lookup[] {
    const nr = Math.max(0, Math.min(nonRepeaters, oids.length));
    const out: Lookup[] = oids.slice(0, nr).map((o) => this.next(o));
    const cursors = oids.slice(nr);
    const reps = Math.max(0, maxRepetitions);
    for (let r = 0; r < reps && cursors.length > 0 && out.length < maxVarbinds; r++) {
      let allEnd = true;
      for (let c = 0; c < cursors.length; c++) {
        const res = this.next(cursors[c] as Oid);
        out.push(res);
        if (res.kind === "value") {
          cursors[c] = res.oid;
          allEnd = false;
        }
      }
      if (allEnd) break;
    }
    return out;
  }

  /** For debugging and tests: every instance as "oid = value". */
  dump(): string[] {
    return this.items.map((it) => `${formatOid(it.oid)} = ${String(it.value.v)}`);
  }

  private lowerBound(oid: Oid): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareOid((this.items[mid] as Instance).oid, oid) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
