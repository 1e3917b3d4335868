/**
 * Loads and removes a network's own nftables table. Loading is one atomic `nft -f`:
 * "add table; delete table; table {…}" replaces any leftover from a crash in one transaction.
 */
import type { NetworkDef } from "../../model/network-def.js";
import type { NetExec } from "./exec.js";
import { buildFirewallRules, firewallTable } from "./firewall-rules.js";

export async function applyFirewall(exec: NetExec, def: NetworkDef): Promise<boolean> {
  const rules = buildFirewallRules(def);
  if (rules === "") return false;
  const table = `inet ${firewallTable(def)}`;
  await exec.run("nft", ["-f", "-"], `add table ${table}\ndelete table ${table}\n${rules}`);
  return true;
}

export async function removeFirewall(exec: NetExec, def: NetworkDef): Promise<void> {
  const table = firewallTable(def);
  if (await exec.test("nft", ["list", "table", "inet", table])) await exec.run("nft", ["delete", "table", "inet", table]);
}
