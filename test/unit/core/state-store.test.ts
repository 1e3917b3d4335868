import { describe, expect, it } from "vitest";
import { inactiveView, StateStore } from "../../../agent/core/state-store.js";
import * as domainXml from "../../../agent/model/domain-xml.js";

const UUID = (n: number) => `6c9c2a7e-0c1b-4d39-9a1e-${String(n).padStart(12, "0")}`;

function view(name: string, n: number) {
  const def = domainXml.parse(`<domain type='qemu'><name>${name}</name><uuid>${UUID(n)}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`);
  return inactiveView(def, true);
}

describe("StateStore lookups", () => {
  it("finds a guest by name or uuid (any case) among thousands, follows a rename and forgets a removed one", () => {
    const s = new StateStore();
    for (let i = 0; i < 3000; i++) s.setDomain(view(`g${i}`, i));
    expect(s.findDomain("g2999")?.uuid).toBe(UUID(2999));
    expect(s.findDomain(UUID(17).toUpperCase())?.name).toBe("g17");
    expect(s.findDomain("nope")).toBeUndefined();
    s.setDomain({ ...view("renamed", 5) }); // same uuid, new name
    expect(s.findDomain("renamed")?.uuid).toBe(UUID(5));
    expect(s.findDomain("g5")).toBeUndefined();
    s.removeDomain(UUID(6));
    expect(s.findDomain("g6")).toBeUndefined();
  });

  it("two guests that share a name: removing the one the name points at leaves the other findable", () => {
    const s = new StateStore();
    s.setDomain(view("twin", 1));
    s.setDomain(view("twin", 2));
    expect(s.findDomain("twin")?.uuid).toBe(UUID(2));
    s.removeDomain(UUID(2));
    expect(s.findDomain("twin")?.uuid).toBe(UUID(1));
    s.removeDomain(UUID(1));
    expect(s.findDomain("twin")).toBeUndefined();
  });
});
