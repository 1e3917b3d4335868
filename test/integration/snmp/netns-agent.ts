/**
 * Runs a standalone SNMP agent (fake driver, 1 guest) for remote-access tests, meant to be
 * started inside a network namespace: `ip netns exec NS tsx netns-agent.ts ADDR PORT ALLOW_REMOTE`.
 * Prints "ready" once listening; exits on SIGTERM.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { makeHarness } from "../../helpers/harness.js";
import { settings } from "./tools.js";

async function main(): Promise<void> {
  const [address = "0.0.0.0", port = "161", allowRemote = "false"] = process.argv.slice(2);
  const dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-netns-"));
  const h = await makeHarness({ demoDomains: 1 });
  const config = settings({ listen: { address, port: Number(port) }, communities: [{ name: "public", allow_remote: allowRemote === "true" }] });
  const exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: dir, log: h.services.log });
  await exporter.start();
  process.stdout.write("ready\n");
  process.once("SIGTERM", () => {
    void exporter.stop().then(() => rm(dir, { recursive: true, force: true })).then(() => process.exit(0));
  });
}

await main();
