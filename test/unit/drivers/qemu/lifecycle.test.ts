import { describe, expect, it } from "vitest";
import { mapQmpEvent, mapRunStatus } from "../../../../agent/drivers/qemu/lifecycle.js";

describe("QMP event to libvirt lifecycle mapping", () => {
  it("maps STOP on a running guest to paused/user with suspended/paused", () => {
    expect(mapQmpEvent("STOP", {}, "running")).toEqual({ kind: "transition", to: { state: "paused", reason: "user", event: "suspended", detail: "paused" } });
  });

  it("ignores STOP on a guest already paused so our own stop is not reported twice", () => {
    expect(mapQmpEvent("STOP", {}, "paused")).toEqual({ kind: "ignore" });
  });

  it("ignores the STOP that QEMU sends after SHUTDOWN with -no-shutdown", () => {
    expect(mapQmpEvent("STOP", {}, "shutdown")).toEqual({ kind: "ignore" });
  });

  it("maps RESUME on a paused guest to running/unpaused and ignores it when already running", () => {
    expect(mapQmpEvent("RESUME", {}, "paused")).toMatchObject({ kind: "transition", to: { state: "running", reason: "unpaused", event: "resumed" } });
    expect(mapQmpEvent("RESUME", {}, "running")).toEqual({ kind: "ignore" });
  });

  it("passes SHUTDOWN on with the guest flag and marks a guest reset under -no-reboot", () => {
    expect(mapQmpEvent("SHUTDOWN", { guest: true, reason: "guest-shutdown" }, "running")).toEqual({ kind: "shutdown", guest: true, reset: false });
    expect(mapQmpEvent("SHUTDOWN", { guest: true, reason: "guest-reset" }, "running")).toEqual({ kind: "shutdown", guest: true, reset: true });
  });

  it("maps SUSPEND to pmsuspended and WAKEUP back to running/wakeup with started/wakeup", () => {
    expect(mapQmpEvent("SUSPEND", {}, "running")).toMatchObject({ to: { state: "pmsuspended", event: "pmsuspended", detail: "memory" } });
    expect(mapQmpEvent("WAKEUP", {}, "pmsuspended")).toMatchObject({ to: { state: "running", reason: "wakeup", event: "started", detail: "wakeup" } });
    expect(mapQmpEvent("WAKEUP", {}, "running")).toEqual({ kind: "ignore" });
  });

  it("maps GUEST_PANICKED to crashed/panicked once", () => {
    expect(mapQmpEvent("GUEST_PANICKED", { action: "pause" }, "running")).toMatchObject({ kind: "panic", to: { state: "crashed", reason: "panicked", event: "crashed", detail: "panicked" } });
    expect(mapQmpEvent("GUEST_PANICKED", {}, "crashed")).toEqual({ kind: "ignore" });
  });

  it("changes no state for POWERDOWN and RESET", () => {
    expect(mapQmpEvent("POWERDOWN", {}, "running")).toEqual({ kind: "ignore" });
    expect(mapQmpEvent("RESET", { guest: true }, "running")).toEqual({ kind: "ignore" });
  });
});

describe("QMP query-status to libvirt state mapping on re-adoption", () => {
  it("keeps the recorded reason when the state is unchanged", () => {
    expect(mapRunStatus("running", { state: "running", reason: "booted" })).toEqual({ state: "running", reason: "booted" });
  });

  it("uses reason unknown when the guest changed state while the agent was away", () => {
    expect(mapRunStatus("paused", { state: "running", reason: "booted" })).toEqual({ state: "paused", reason: "unknown" });
  });

  it("maps QEMU's special run states to libvirt's", () => {
    expect(mapRunStatus("io-error")).toEqual({ state: "paused", reason: "ioerror" });
    expect(mapRunStatus("shutdown")).toEqual({ state: "shutdown", reason: "user" });
    expect(mapRunStatus("guest-panicked")).toEqual({ state: "crashed", reason: "panicked" });
    expect(mapRunStatus("suspended")).toEqual({ state: "pmsuspended", reason: "unknown" });
  });
});
