/**
 * Turns an OidView lookup into wire varbinds for either transport (GET, GETNEXT, GETBULK).
 */
import type { Lookup, OidView } from "./oid-view.js";
import { formatOid, parseOid, type Oid } from "./oid.js";
import { TAG, toWire, type Transport, type WireVarbind } from "./value.js";

const EXCEPTION_TAG = { noSuchObject: TAG.NoSuchObject, noSuchInstance: TAG.NoSuchInstance, endOfMibView: TAG.EndOfMibView } as const;

export function lookupToWire(l: Lookup, transport: Transport): WireVarbind {
  if (l.kind === "value") return toWire(formatOid(l.oid), l.value, transport);
  return { oid: formatOid(l.oid), type: EXCEPTION_TAG[l.kind], value: null };
}

/** OIDs that do not parse sort before everything (a walk from them starts at the top). */
function safeParse(oid: string): Oid {
  try {
    return parseOid(oid);
  } catch {
    return [];
  }
}

export function answerGet(view: OidView, oids: string[], transport: Transport): WireVarbind[] {
  return oids.map((o) => {
    let parsed: Oid;
    try {
      parsed = parseOid(o);
    } catch {
      return { oid: o, type: TAG.NoSuchObject, value: null };
    }
    return lookupToWire(view.get(parsed), transport);
  });
}

export function answerNext(view: OidView, oids: string[], transport: Transport): WireVarbind[] {
  return oids.map((o) => lookupToWire(view.next(safeParse(o)), transport));
}

export function answerBulk(view: OidView, oids: string[], nonRepeaters: number, maxRepetitions: number, transport: Transport): WireVarbind[] {
  return view.bulk(oids.map(safeParse), nonRepeaters, maxRepetitions).map((l) => lookupToWire(l, transport));
}
