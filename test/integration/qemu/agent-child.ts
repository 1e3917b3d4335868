/**
 * A stand-in agent for the "kill -9 of the agent" test: opens a QemuDriver on the given
 * dirs, defines and starts N guests, prints their uuids and pids as one JSON line, then
 * idles until the test SIGKILLs it. Run with `node --import tsx`.
 */
import { EventBus } from "../../../agent/core/bus.js";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { guestXml } from "./driver-fixture.js";
import { QEMU_BINARY } from "./helpers.js";

async function main(): Promise<void> {
  const [stateDir, runDir, count, prefix] = process.argv.slice(2);
  if (!stateDir || !runDir || !count || !prefix) throw new Error("usage: agent-child <stateDir> <runDir> <count> <prefix>");
  const driver = new QemuDriver({ store: new StateStore(), bus: new EventBus(), log: silentLogger(), stateDir, runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000 });
  await driver.open();
  const out: Array<{ uuid: string; pid: number | undefined }> = [];
  for (let i = 0; i < Number(count); i++) {
    const { view } = await driver.defineDomain(guestXml(`${prefix}${i}`));
    const v = await driver.startDomain(view.uuid);
    out.push({ uuid: v.uuid, pid: v.pid });
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
