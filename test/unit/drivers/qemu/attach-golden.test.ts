/**
 * Golden tests of attach's pure half: test/fixtures/qemu-cmdline/<case>.cmdline (a captured
 * /proc/PID/cmdline, NUL-separated, or one argument per line) → <case>.json, the definition,
 * taps and notes, or the refusal. With <case>.qmp.json (replies captured from the real QEMU
 * that ran that command line) the QMP check is applied too. REGENERATE=1 rewrites the
 * expected files; they are reviewed line by line.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { QmpFacts } from "../../../../agent/drivers/qemu/attach-check.js";
import { splitCmdline } from "../../../../agent/drivers/qemu/attach-opts.js";
import { finishPlan, planFromCmdline } from "../../../../agent/drivers/qemu/attach-plan.js";
import * as domainXml from "../../../../agent/model/domain-xml.js";
import { validateDomainDef } from "../../../../agent/model/domain-validate.js";
import { AgentError } from "../../../../agent/model/errors.js";

const DIR = join(import.meta.dirname, "../../../fixtures/qemu-cmdline");
const PID = 4242;
const EXE = "/usr/bin/qemu-system-x86_64";
const FIXED_UUID = "00000000-0000-4000-8000-000000004242";

function listCases(): string[] {
  const files = readdirSync(DIR);
  const stems = new Set(files.filter((f) => f.endsWith(".cmdline")).map((f) => f.slice(0, -".cmdline".length)));
  const orphans = files.filter((f) => {
    const m = /^(.*?)\.(cmdline|json|qmp\.json)$/.exec(f);
    return !m?.[1] || !stems.has(m[1]);
  });
  if (orphans.length > 0) throw new Error(`orphan files in ${DIR}: ${orphans.join(", ")}`);
  return [...stems].sort();
}

function run(name: string): unknown {
  const argv = splitCmdline(readFileSync(join(DIR, `${name}.cmdline`), "utf8"));
  try {
    const plan = planFromCmdline(PID, EXE, argv);
    const qmpFile = join(DIR, `${name}.qmp.json`);
    if (!existsSync(qmpFile)) return { monitor: plan.monitor, def: plan.cmd.def, taps: plan.cmd.taps, notes: plan.cmd.notes };
    const facts = JSON.parse(readFileSync(qmpFile, "utf8")) as QmpFacts;
    const c = finishPlan(PID, plan, facts, { nameGiven: false, newUuid: () => FIXED_UUID });
    return { monitor: plan.monitor, def: c.def, taps: plan.cmd.taps, state: c.state, reason: c.reason, vcpuThreads: c.vcpuThreads, notes: c.notes };
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    return { error: { code: e.code, message: e.message } };
  }
}

describe("attach reads captured QEMU command lines into definitions (golden)", () => {
  const cases = listCases();

  it("has modern, legacy and refusal cases", () => {
    expect(cases.filter((c) => c.startsWith("modern-")).length).toBeGreaterThanOrEqual(3);
    expect(cases.filter((c) => c.startsWith("legacy-")).length).toBeGreaterThanOrEqual(2);
    expect(cases.filter((c) => c.startsWith("refuse-")).length).toBeGreaterThanOrEqual(5);
  });

  for (const name of cases) {
    it(`${name} gives the reviewed result`, () => {
      const got = run(name);
      const file = join(DIR, `${name}.json`);
      if (process.env["REGENERATE"] === "1") writeFileSync(file, `${JSON.stringify(got, null, 1)}\n`);
      expect(got).toEqual(JSON.parse(readFileSync(file, "utf8")));
    });

    if (!name.startsWith("refuse-")) {
      it(`${name} yields a valid definition that survives an XML round trip`, () => {
        const got = run(name) as { def: Parameters<typeof validateDomainDef>[0] };
        const def = { ...got.def, uuid: got.def.uuid === "" ? FIXED_UUID : got.def.uuid };
        validateDomainDef(def);
        expect(domainXml.parse(domainXml.format(def, { secure: true }))).toEqual(def);
      });
    }
  }
});
