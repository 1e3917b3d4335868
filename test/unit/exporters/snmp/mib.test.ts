import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OidView } from "../../../../agent/exporters/snmp/oid-view.js";
import { indexToUuid, parseOid, uuidToIndex } from "../../../../agent/exporters/snmp/oid.js";
import { planSet, ERR } from "../../../../agent/exporters/snmp/set-plan.js";
import { counter64Octets, int } from "../../../../agent/exporters/snmp/value.js";
import { VmIndexMap } from "../../../../agent/exporters/snmp/vm-index.js";
import { vmListBitmap } from "../../../../agent/exporters/snmp/notifier.js";
import { makeHarness } from "../../../helpers/harness.js";

const GUEST_ENTRY = "1.3.6.1.4.1.36957.1.1.1";

describe("snmp value layer and MIB view", () => {
  it("a UUID round-trips through its 16-octet implied index", () => {
    const u = "c0a46a58-7243-4c05-854b-8c5863473d1a";
    expect(uuidToIndex(u)).toHaveLength(16);
    expect(indexToUuid(uuidToIndex(u))).toBe(u);
  });

  it("GETNEXT walks in lexicographic OID order, not insertion order", () => {
    const v = new OidView([{ oid: [1, 3, 10], value: int(3) }, { oid: [1, 3, 2, 5], value: int(2) }, { oid: [1, 3, 2], value: int(1) }], [[1, 3]]);
    expect(v.next([1, 3]).oid).toEqual([1, 3, 2]);
    expect(v.next([1, 3, 2]).oid).toEqual([1, 3, 2, 5]);
    expect(v.next([1, 3, 2, 5]).oid).toEqual([1, 3, 10]);
    expect(v.next([1, 3, 10]).kind).toBe("endOfMibView");
  });

  it("GETBULK returns non-repeaters once and max-repetitions rows per repeater", () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ oid: [1, 3, 1, i + 1], value: int(i) }));
    const v = new OidView(items, [[1, 3]]);
    expect(v.bulk([[1, 3], [1, 3, 1]], 1, 10)).toHaveLength(11);
  });

  it("Counter64 is encoded as minimal unsigned BER content", () => {
    expect(counter64Octets(0n)).toEqual(Buffer.from([0]));
    expect(counter64Octets(255n)).toEqual(Buffer.from([0, 255]));
    expect(counter64Octets(2n ** 64n - 1n)).toHaveLength(9);
  });

  it("VirtualMachineList sets the most significant bit for vmIndex 1", () => {
    expect(vmListBitmap([1, 9])).toEqual(Buffer.from([0x80, 0x80]));
  });

  it("vmIndex assignments survive a restart and are never reused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "virtbus-vmidx-"));
    const a = new VmIndexMap(dir);
    await a.load();
    expect(a.indexOf("u1")).toBe(1);
    expect(a.indexOf("u2")).toBe(2);
    await a.flush();
    const b = new VmIndexMap(dir);
    await b.load();
    expect(b.indexOf("u2")).toBe(2);
    expect(b.indexOf("u3")).toBe(3);
    await rm(dir, { recursive: true, force: true });
  });
});

describe("snmp SET planning (test phase)", () => {
  it("createAndGo on a defined guest plans domain.start and has no side effect", async () => {
    const h = await makeHarness({ demoDomains: 2 });
    const g = h.store.listDomains().find((d) => d.state === "shutoff")!;
    const plan = planSet([{ oid: `${GUEST_ENTRY}.9.${uuidToIndex(g.uuid).join(".")}`, type: 2, value: 4 }], h.store, () => true);
    expect(plan).toEqual({ ok: true, actions: [{ kind: "dispatch", op: "domain.start", args: { domain: g.uuid }, index: 1 }] });
    expect(h.store.getDomain(g.uuid)?.state).toBe("shutoff");
  });

  it("a read-only column is notWritable and an unknown UUID is inconsistentName", async () => {
    const h = await makeHarness({ demoDomains: 1 });
    const g = h.store.listDomains()[0]!;
    expect(planSet([{ oid: `${GUEST_ENTRY}.2.${uuidToIndex(g.uuid).join(".")}`, type: 4, value: "x" }], h.store, () => true)).toMatchObject({ ok: false, errorStatus: ERR.notWritable });
    const missing = parseOid(`${GUEST_ENTRY}.3`).concat(uuidToIndex("00000000-0000-0000-0000-000000000001")).join(".");
    expect(planSet([{ oid: missing, type: 2, value: 3 }], h.store, () => true)).toMatchObject({ ok: false, errorStatus: ERR.inconsistentName });
  });
});
