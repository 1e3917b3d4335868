import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalMachine, parseMachineHelp, parseVersion, probeQemu } from "../../../../agent/drivers/qemu/caps.js";
import { CAPS_DIR, fixedCaps } from "./golden.js";

const machineHelp = readFileSync(join(CAPS_DIR, "machine-help-7.2.txt"), "utf8");

describe("QEMU capability parsers", () => {
  it("parses the version of the captured QEMU 7.2 -version output", () => {
    expect(parseVersion(readFileSync(join(CAPS_DIR, "version-7.2.txt"), "utf8"))).toEqual({ major: 7, minor: 2, micro: 22 });
  });

  it("rejects -version output without a version with operation_failed", () => {
    expect(() => parseVersion("garbage")).toThrow(expect.objectContaining({ code: "operation_failed" }));
  });

  it("folds alias lines into their target instead of listing them as machines", () => {
    const ms = parseMachineHelp(machineHelp);
    expect(ms.find((m) => m.name === "pc")).toBeUndefined();
    expect(ms.find((m) => m.name === "pc-i440fx-7.2")).toMatchObject({ alias: "pc", isDefault: true, deprecated: false, maxCpus: 255 });
    expect(ms.find((m) => m.name === "pc-q35-7.2")).toMatchObject({ alias: "q35", isDefault: false, maxCpus: 288 });
  });

  it("flags deprecated machines and has exactly one default", () => {
    const ms = parseMachineHelp(machineHelp);
    expect(ms.find((m) => m.name === "pc-i440fx-1.4")?.deprecated).toBe(true);
    expect(ms.filter((m) => m.isDefault).map((m) => m.name)).toEqual(["pc-i440fx-7.2"]);
  });

  it("canonicalises aliases, keeps canonical names and defaults to the binary's default", () => {
    const caps = fixedCaps();
    expect(canonicalMachine(caps, "q35")).toBe("pc-q35-7.2");
    expect(canonicalMachine(caps, "pc-q35-6.2")).toBe("pc-q35-6.2");
    expect(canonicalMachine(caps)).toBe("pc-i440fx-7.2");
  });

  it("rejects an unknown machine with config_unsupported naming it", () => {
    expect(() => canonicalMachine(fixedCaps(), "pc-i440fx-42.0")).toThrow(
      expect.objectContaining({ code: "config_unsupported", message: expect.stringContaining("pc-i440fx-42.0") }),
    );
  });
});

describe("probeQemu on the installed binary", () => {
  it("finds the same machines as the captured fixture and caches the result", async () => {
    const caps = await probeQemu("qemu-system-x86_64").catch((e: unknown) => {
      throw new Error(`qemu-system-x86_64 is needed (Debian package qemu-system-x86): ${String(e)}`);
    });
    expect(caps.version.major).toBeGreaterThanOrEqual(7);
    expect(caps.machines).toEqual(parseMachineHelp(machineHelp));
    expect(await probeQemu("qemu-system-x86_64")).toBe(caps);
  });

  it("fails with operation_failed for a missing binary", async () => {
    await expect(probeQemu("/nonexistent/qemu-system-x86_64")).rejects.toMatchObject({ code: "operation_failed" });
  });
});
