/**
 * `host.capabilities` on this machine, driven through the real dispatcher and the real local
 * socket + CLI verb, probing the installed QEMU (no agent process needed).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerCapsVerbs } from "../../../agent/cli/caps-verbs.js";
import { SocketRuntime } from "../../../agent/cli/runtime.js";
import type { VerbContext } from "../../../agent/cli/domain-verbs.js";
import type { Caller } from "../../../agent/control/types.js";
import { LocalSocketServer } from "../../../agent/exporters/local/socket-server.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";

const QEMU = "/usr/bin/qemu-system-x86_64";
const CALLER: Caller = { user: "test", via: "internal" };

/** alias → canonical machine, straight from the installed QEMU's own `-machine help`. */
async function qemuAliases(): Promise<Map<string, string>> {
  if (!existsSync(QEMU)) throw new Error(`${QEMU} is missing: install the Debian package qemu-system-x86`);
  const { stdout } = await execa(QEMU, ["-machine", "help"], { env: { LC_ALL: "C" } });
  const out = new Map<string, string>();
  for (const m of stdout.matchAll(/^(\S+)\s.*\(alias of (\S+)\)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

describe("host.capabilities on this machine", () => {
  let h: Harness;
  let aliases: Map<string, string>;
  beforeAll(async () => {
    [h, aliases] = await Promise.all([makeHarness(), qemuAliases()]);
  });

  it("the XML lists the installed QEMU's machine types with canonical pc and q35 entries", async () => {
    const r = (await h.dispatcher.dispatch("host.capabilities", {}, CALLER)) as { xml: string };
    expect(r.xml).toMatch(/^<capabilities>\n\n {2}<host>\n {4}<uuid>[0-9a-f-]{36}<\/uuid>/);
    for (const alias of ["pc", "q35"]) {
      const canonical = aliases.get(alias);
      expect(canonical, `QEMU reports no alias '${alias}'`).toBeDefined();
      expect(r.xml).toMatch(new RegExp(`<machine maxCpus='\\d+'>${canonical}</machine>\\n\\s+<machine canonical='${canonical}' maxCpus='\\d+'>${alias}</machine>`));
    }
    expect(r.xml).toContain(`<emulator>${QEMU}</emulator>`);
    expect(r.xml).toContain("<domain type='qemu'/>");
  });

  it("the JSON form has the same machines and the host's CPU count", async () => {
    const j = (await h.dispatcher.dispatch("host.capabilities", { format: "json" }, CALLER)) as {
      host: { cells: Array<{ cpus: unknown[] }> };
      guests: Array<{ arch: string; machines: Array<{ name: string; canonical: string | null }> }>;
    };
    const x86 = j.guests.find((g) => g.arch === "x86_64");
    expect(x86?.machines.find((m) => m.name === "pc")?.canonical).toBe(aliases.get("pc"));
    expect(x86?.machines.find((m) => m.name === "q35")?.canonical).toBe(aliases.get("q35"));
    const cpus = j.host.cells.reduce((n, c) => n + c.cpus.length, 0);
    const { stdout } = await execa("nproc", ["--all"]);
    expect(cpus).toBe(Number(stdout.trim()));
  });

  it("an unknown format is rejected with invalid_arg", async () => {
    await expect(h.dispatcher.dispatch("host.capabilities", { format: "yaml" }, CALLER)).rejects.toMatchObject({ code: "invalid_arg" });
  });

  describe("the capabilities CLI verb over the local socket", () => {
    let dir: string;
    let server: LocalSocketServer;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "virtbus-caps-"));
      server = new LocalSocketServer({ path: join(dir, "s.sock"), dispatcher: h.dispatcher, bus: h.bus, log: h.services.log });
      await server.start();
    });
    afterAll(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    async function run(args: string[]): Promise<string> {
      const lines: string[] = [];
      const program = new Command("virtbus").option("--json").exitOverride();
      const ctx: VerbContext = {
        runtime: () => SocketRuntime.connect(join(dir, "s.sock")),
        print: (r, human) => lines.push(program.opts<{ json?: boolean }>().json ? JSON.stringify(r) : human(r)),
      };
      registerCapsVerbs(program, ctx);
      await program.parseAsync(["node", "virtbus", ...args]);
      return lines.join("\n");
    }

    it("prints the capabilities XML like virsh capabilities", async () => {
      const out = await run(["capabilities"]);
      expect(out.startsWith("<capabilities>")).toBe(true);
      expect(out.endsWith("</capabilities>")).toBe(true);
      expect(out).toContain(`canonical='${aliases.get("q35")}'`);
    });

    it("with --json prints the capabilities as JSON", async () => {
      const out = JSON.parse(await run(["capabilities", "--json"])) as { host: { uuid: string }; guests: unknown[] };
      expect(out.host.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(out.guests.length).toBeGreaterThan(0);
    });
  });
});
