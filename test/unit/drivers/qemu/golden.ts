/**
 * Shared fixed inputs for the argv golden tests: caps captured from the real QEMU 7.2
 * binary, fixed fds and run directory, and the fixture directory walk.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { LaunchContext, QemuCaps } from "../../../../agent/drivers/qemu/command.js";
import { parseMachineHelp, parseVersion } from "../../../../agent/drivers/qemu/caps.js";

export const ROOT = join(import.meta.dirname, "../../../..");
export const ARGV_DIR = join(ROOT, "test/fixtures/qemu-argv");
export const CAPS_DIR = join(ROOT, "test/fixtures/qemu-caps");

/** Caps of the installed QEMU 7.2, from captured output; KVM on unless the case name ends in -nokvm. */
export function fixedCaps(kvm = true): QemuCaps {
  return {
    binary: "/usr/bin/qemu-system-x86_64",
    version: parseVersion(readFileSync(join(CAPS_DIR, "version-7.2.txt"), "utf8")),
    machines: parseMachineHelp(readFileSync(join(CAPS_DIR, "machine-help-7.2.txt"), "utf8")),
    kvm,
  };
}

export function fixedCtx(name: string): LaunchContext {
  return { monitorFd: 3, runDir: `/run/virtbus/qemu/${name}`, tapFds: { 0: 4, 1: 5, 2: 6 }, graphicsSecretFd: 7 };
}

export interface GoldenCase {
  name: string;
  xml: string;
  expected: "args" | "err" | "none";
}

/** Lists the cases; throws on files that belong to no case or to two outcomes. */
export function listCases(): GoldenCase[] {
  const files = readdirSync(ARGV_DIR);
  const stems = new Set(files.filter((f) => f.endsWith(".xml")).map((f) => f.slice(0, -4)));
  const orphans = files.filter((f) => {
    const m = /^(.*)\.(args|err|xml)$/.exec(f);
    return !m?.[1] || !stems.has(m[1]);
  });
  if (orphans.length > 0) throw new Error(`orphan files in ${ARGV_DIR}: ${orphans.join(", ")}`);
  return [...stems].sort().map((name) => {
    const hasArgs = files.includes(`${name}.args`);
    const hasErr = files.includes(`${name}.err`);
    if (hasArgs && hasErr) throw new Error(`case ${name} has both .args and .err`);
    return { name, xml: join(ARGV_DIR, `${name}.xml`), expected: hasArgs ? "args" : hasErr ? "err" : "none" };
  });
}
