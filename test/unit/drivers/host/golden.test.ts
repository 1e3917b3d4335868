/**
 * Golden tests: captured and hand-built procfs/sysfs trees → capabilities XML and JSON.
 * Each case is test/fixtures/host/<case>/{tree/, expected.xml, expected.json}; the QEMU side
 * is the captured `-machine help` of QEMU 7.2, with KVM when the tree has dev/kvm.
 * REGENERATE=1 rewrites the expected files (review them line by line).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { probeHostCapabilities, type EmulatorProbe } from "../../../../agent/drivers/host/probe.js";
import { parseMachineHelp } from "../../../../agent/drivers/qemu/caps.js";
import { formatCapabilitiesXml, toCapabilitiesJson } from "../../../../agent/model/capabilities.js";

const DIR = join(import.meta.dirname, "../../../fixtures/host");
const MACHINE_HELP = "qemu-machine-help-7.2.txt";
const CASE_FILES = ["tree", "expected.xml", "expected.json"];
const regenerate = process.env["REGENERATE"] === "1";

const cases = readdirSync(DIR).filter((n) => statSync(join(DIR, n)).isDirectory()).sort();

function fixedProbe(tree: string): EmulatorProbe {
  const machines = parseMachineHelp(readFileSync(join(DIR, MACHINE_HELP), "utf8"));
  return async () => ({ machines, kvm: existsSync(join(tree, "dev/kvm")) });
}

function compare(file: string, actual: string): void {
  if (regenerate) writeFileSync(file, actual);
  expect(existsSync(file), `${file} is missing (run with REGENERATE=1)`).toBe(true);
  expect(actual).toBe(readFileSync(file, "utf8"));
}

describe("host capabilities golden files", () => {
  it("the fixture directory holds only case directories and the captured machine list", () => {
    const orphans = readdirSync(DIR).filter((n) => n !== MACHINE_HELP && !cases.includes(n));
    expect(orphans).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of cases) {
    it(`case ${name} formats to its expected XML and JSON`, async () => {
      const dir = join(DIR, name);
      const extra = readdirSync(dir).filter((f) => !CASE_FILES.includes(f));
      expect(extra, `orphan files in ${dir}`).toEqual([]);
      const tree = join(dir, "tree");
      const caps = await probeHostCapabilities({ root: tree, probeEmulator: fixedProbe(tree) });
      compare(join(dir, "expected.xml"), formatCapabilitiesXml(caps));
      compare(join(dir, "expected.json"), `${JSON.stringify(toCapabilitiesJson(caps), null, 2)}\n`);
    });
  }
});
