/**
 * Golden tests: test/fixtures/qemu-argv/<case>.xml → <case>.args (one argument per line)
 * or <case>.err (error code on line 1, message substring on line 2).
 * REGENERATE=1 rewrites the expected files; review them line by line.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildCommand } from "../../../../agent/drivers/qemu/command.js";
import { parse } from "../../../../agent/model/domain-xml.js";
import { AgentError } from "../../../../agent/model/errors.js";
import { ARGV_DIR, fixedCaps, fixedCtx, listCases } from "./golden.js";

const REGENERATE = process.env["REGENERATE"] === "1";

type Outcome = { kind: "args"; argv: string[] } | { kind: "err"; code: string; message: string };

function run(xmlPath: string, name: string): Outcome {
  const def = parse(readFileSync(xmlPath, "utf8"));
  try {
    return { kind: "args", argv: buildCommand(def, fixedCaps(!name.endsWith("-nokvm")), fixedCtx(def.name)).argv };
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    return { kind: "err", code: e.code, message: e.message };
  }
}

function regenerate(name: string, out: Outcome): void {
  const base = join(ARGV_DIR, name);
  if (out.kind === "args") writeFileSync(`${base}.args`, `${out.argv.join("\n")}\n`);
  else writeFileSync(`${base}.err`, `${out.code}\n${out.message}\n`);
}

describe("buildCommand golden fixtures", () => {
  const cases = listCases();

  it("has at least 15 argv cases and 5 error cases, none without an expected file", () => {
    expect(cases.filter((c) => c.expected === "args").length).toBeGreaterThanOrEqual(15);
    expect(cases.filter((c) => c.expected === "err").length).toBeGreaterThanOrEqual(5);
    if (!REGENERATE) expect(cases.filter((c) => c.expected === "none").map((c) => c.name)).toEqual([]);
  });

  for (const c of cases) {
    it(`case ${c.name} produces exactly its expected ${c.expected === "err" ? "error" : "argv"}`, () => {
      const out = run(c.xml, c.name);
      if (REGENERATE) return regenerate(c.name, out);
      const base = join(ARGV_DIR, c.name);
      if (c.expected === "args") {
        expect(out.kind === "args" ? out.argv : out).toEqual(readFileSync(`${base}.args`, "utf8").trimEnd().split("\n"));
      } else {
        const [code, message] = readFileSync(`${base}.err`, "utf8").split("\n");
        expect(out.kind).toBe("err");
        if (out.kind === "err") {
          expect(out.code).toBe(code);
          expect(out.message).toContain(message);
        }
      }
    });
  }
});

describe("buildCommand secrets and escaping", () => {
  it("never puts a graphics password on argv, but references a secret object read from the secret fd", () => {
    const def = parse(readFileSync(join(ARGV_DIR, "vnc-password.xml"), "utf8"));
    expect(def.devices.graphics[0]?.passwd).toBe("s3cr3t-pw");
    const { argv } = buildCommand(def, fixedCaps(), fixedCtx(def.name));
    expect(argv.join("\n")).not.toContain("s3cr3t-pw");
    expect(argv).toContain("secret,id=graphics0-secret,file=/dev/fd/7");
    expect(argv.find((a) => a.startsWith("127.0.0.1:1"))).toContain("password-secret=graphics0-secret");
  });

  it("fails with internal when a password is set but no secret fd was passed", () => {
    const def = parse(readFileSync(join(ARGV_DIR, "vnc-password.xml"), "utf8"));
    const ctx = { ...fixedCtx(def.name), graphicsSecretFd: undefined };
    expect(() => buildCommand(def, fixedCaps(), ctx)).toThrow(expect.objectContaining({ code: "internal" }));
  });

  it("rejects a kernel cmdline with a newline with invalid_arg", () => {
    const def = parse(readFileSync(join(ARGV_DIR, "kernel-cmdline-commas.xml"), "utf8"));
    def.os.cmdline = "console=ttyS0\n-device evil";
    expect(() => buildCommand(def, fixedCaps(), fixedCtx(def.name))).toThrow(expect.objectContaining({ code: "invalid_arg" }));
  });

  it("doubles commas in a disk path so it cannot inject a blockdev option", () => {
    const def = parse(readFileSync(join(ARGV_DIR, "virtio-disk-raw.xml"), "utf8"));
    const disk = def.devices.disks[0];
    if (disk) disk.source = "/img/x,driver=host_device,filename=/dev/sda";
    const { argv } = buildCommand(def, fixedCaps(), fixedCtx(def.name));
    expect(argv).toContain(
      "driver=file,filename=/img/x,,driver=host_device,,filename=/dev/sda,node-name=disk0-storage,auto-read-only=on,discard=unmap",
    );
  });

  it("does not mutate the definition it is given", () => {
    const def = parse(readFileSync(join(ARGV_DIR, "boot-order.xml"), "utf8"));
    const before = structuredClone(def);
    buildCommand(def, fixedCaps(), fixedCtx(def.name));
    expect(def).toEqual(before);
  });
});
