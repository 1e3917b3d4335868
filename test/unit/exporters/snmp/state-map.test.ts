import { describe, expect, it } from "vitest";
import { COL, GUEST_ENTRY, guestNotifVarbinds, guestRowStatus, guestStateNumber, ROW_STATUS } from "../../../../agent/exporters/snmp/mib-libvirt.js";
import { operState, vmNotificationFor } from "../../../../agent/exporters/snmp/mib-vm.js";
import { DOMAIN_STATES } from "../../../../agent/model/state.js";

describe("state mapping into the MIBs", () => {
  it("every domain state maps into libvirtGuestState's enum running(1)..crashed(6), nostate as shutoff and pmsuspended as paused", () => {
    for (const s of DOMAIN_STATES) expect([1, 2, 3, 4, 5, 6]).toContain(guestStateNumber(s));
    expect(guestStateNumber("nostate")).toBe(5);
    expect(guestStateNumber("pmsuspended")).toBe(3);
    expect(guestStateNumber("running")).toBe(1);
    expect(guestStateNumber("crashed")).toBe(6);
  });

  it("the RowStatus in a trap agrees with the table, and a removed guest's trap says destroy(6)", () => {
    const uuid = "c0a46a58-7243-4c05-854b-8c5863473d1a";
    const rowStatusIn = (vbs: ReturnType<typeof guestNotifVarbinds>) => vbs.find((v) => v.oid[GUEST_ENTRY.length] === COL.rowStatus)?.value.v;
    expect(rowStatusIn(guestNotifVarbinds(uuid, "g", "running", false))).toBe(guestRowStatus("running"));
    expect(rowStatusIn(guestNotifVarbinds(uuid, "g", "shutoff", false))).toBe(guestRowStatus("shutoff"));
    expect(rowStatusIn(guestNotifVarbinds(uuid, "g", "shutoff", true))).toBe(ROW_STATUS.destroy);
  });

  it("vmOperState and the per-VM notification follow RFC 7666 for paused, shutdown and pmsuspended guests", () => {
    expect(operState("paused")).toBe(8);
    expect(vmNotificationFor(operState("paused"), false)?.join(".")).toBe("1.3.6.1.2.1.236.0.4");
    expect(vmNotificationFor(operState("shutoff"), false)?.join(".")).toBe("1.3.6.1.2.1.236.0.3");
    expect(vmNotificationFor(operState("pmsuspended"), false)?.join(".")).toBe("1.3.6.1.2.1.236.0.6");
    expect(vmNotificationFor(operState("running"), true)?.join(".")).toBe("1.3.6.1.2.1.236.0.10");
  });
});
