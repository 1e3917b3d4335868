import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildDnsmasqConf, needsDnsmasq } from "../../../agent/drivers/net/dnsmasq-conf.js";
import { buildFirewallRules } from "../../../agent/drivers/net/firewall-rules.js";
import { AgentError } from "../../../agent/model/errors.js";
import * as networkXml from "../../../agent/model/network-xml.js";
import { validateNetworkDef } from "../../../agent/model/network-validate.js";

const DIR = join(import.meta.dirname, "../../fixtures/network-xml");
const REGEN = process.env["REGENERATE"] === "1";
const cases = readdirSync(DIR).filter((f) => f.endsWith(".xml")).map((f) => f.slice(0, -4));

/** Compares `actual` with the expected file; absent actual means the file must not exist. */
function golden(file: string, actual: string | undefined): void {
  const path = join(DIR, file);
  if (REGEN) {
    if (actual === undefined) rmSync(path, { force: true });
    else writeFileSync(path, actual);
    return;
  }
  if (actual === undefined) expect(existsSync(path), `${file} should not exist`).toBe(false);
  else expect(actual).toBe(readFileSync(path, "utf8"));
}

function run(name: string): { def?: ReturnType<typeof networkXml.parse>; err?: string } {
  try {
    const def = networkXml.parse(readFileSync(join(DIR, `${name}.xml`), "utf8"));
    validateNetworkDef(def);
    return { def };
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    return { err: `${e.code}: ${e.message}\n` };
  }
}

const paths = (n: string) => ({ pidFile: `/run/virtbus/network/${n}.pid`, leaseFile: `/var/lib/virtbus/network/${n}.leases` });

describe("network XML golden fixtures", () => {
  it("every fixture file belongs to a case (no orphans)", () => {
    const known = new Set(cases);
    const orphans = readdirSync(DIR).filter((f) => !known.has(f.replace(/\.(xml|err|dnsmasq|nft)$/, "")));
    expect(orphans).toEqual([]);
  });

  for (const name of cases) {
    it(`${name}: the XML gives the expected dnsmasq config, nft rules or error`, () => {
      const { def, err } = run(name);
      golden(`${name}.err`, err);
      golden(`${name}.dnsmasq`, def && needsDnsmasq(def) ? buildDnsmasqConf(def, paths(def.name)) : undefined);
      const nft = def ? buildFirewallRules(def) : "";
      golden(`${name}.nft`, nft === "" ? undefined : nft);
    });

    if (run(name).def === undefined) continue;
    it(`${name}: parse(format(def)) gives the same definition back`, () => {
      const def = run(name).def;
      expect(networkXml.parse(networkXml.format(def as NonNullable<typeof def>))).toEqual(def);
    });
  }
});
