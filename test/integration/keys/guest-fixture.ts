/**
 * A running key-probe guest behind the agent's own dispatcher and QEMU driver: the test
 * sends keys the way AMQP and the CLI do (dispatch) and reads what the guest's kernel saw
 * from the serial log (see test/helpers/guest-image.ts for the guest's output format).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EventBus } from "../../../agent/core/bus.js";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { COMMANDS } from "../../../agent/control/commands.js";
import { Dispatcher } from "../../../agent/control/dispatch.js";
import { Policy } from "../../../agent/control/policy.js";
import type { Caller, Services } from "../../../agent/control/types.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { buildGuestImage } from "../../helpers/guest-image.js";
import { makeTempDirs, QEMU_BINARY, requireQemu, type TempDirs } from "../qemu/helpers.js";

export const CALLER: Caller = { user: "root", via: "cli" };

export interface KeyGuest {
  dispatcher: Dispatcher;
  bus: EventBus;
  driver: QemuDriver;
  store: StateStore;
  uuid: string;
  pid: number;
  serialPath: string;
  dirs: TempDirs;
  /** The serial log so far. */
  serial(): string;
  /** Waits until `pred(serial)` holds; throws with the log tail after `timeoutMs`. */
  waitFor(pred: (serial: string) => boolean, timeoutMs: number, what: string): Promise<string>;
  stop(): Promise<void>;
}

function probeXml(name: string, kernel: string, initrd: string, cmdline: string, serialPath: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel><initrd>${initrd}</initrd><cmdline>${cmdline}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices><serial type='file'><source path='${serialPath}'/><target port='0'/></serial></devices>
</domain>`;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Builds the image, starts the guest through dispatch and waits for its init to be ready. */
export async function startKeyGuest(name: string): Promise<KeyGuest> {
  requireQemu();
  const img = await buildGuestImage();
  const dirs = makeTempDirs("vb-keys-");
  const log = silentLogger();
  const store = new StateStore();
  const bus = new EventBus(log);
  const driver = new QemuDriver({ store, bus, log, stateDir: dirs.stateDir, runDir: dirs.runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000 });
  await driver.open();
  const services: Services = { hypervisor: driver, store, bus, log, hostId: "keys", version: "0.0.0-test", startedAt: Date.now() };
  const dispatcher = new Dispatcher(COMMANDS, services, new Policy());
  const serialPath = join(dirs.root, "serial.log");
  await dispatcher.dispatch("domain.define", { xml: probeXml(name, img.kernel, img.initrd, img.cmdline, serialPath) }, CALLER);
  const started = (await dispatcher.dispatch("domain.start", { domain: name }, CALLER)) as { uuid: string };
  const view = store.getDomain(started.uuid)!;
  const serial = () => readOrEmpty(serialPath);
  const waitFor = async (pred: (s: string) => boolean, timeoutMs: number, what: string) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = serial();
      if (pred(s)) return s;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; serial tail:\n${s.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    await driver.destroyDomain(view.uuid).catch(() => undefined);
    try {
      process.kill(view.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    await driver.close();
    dirs.cleanup();
  };
  const g: KeyGuest = { dispatcher, bus, driver, store, uuid: view.uuid, pid: view.pid!, serialPath, dirs, serial, waitFor, stop };
  try {
    await waitFor((s) => s.includes("VIRTBUS-READY"), 90_000, "the guest's init");
  } catch (e) {
    await stop();
    throw e;
  }
  return g;
}

/** EV_KEY (type 1) records after offset `from` of the serial log, as "code value" strings. */
export function keyEvents(serial: string, from = 0): string[] {
  return [...serial.slice(from).matchAll(/^EVR \d+ \d+ \d+ \d+ \d+ 1 (\d+) (-?\d+)\r?$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/** Sends one key and waits until the guest has seen it released: everything sent before has arrived. */
export async function syncKeys(g: KeyGuest, key = "KEY_X", linux = 45): Promise<number> {
  const from = g.serial().length;
  await g.dispatcher.dispatch("domain.send_key", { domain: "keys-probe", keys: [key] }, CALLER);
  await g.waitFor((x) => keyEvents(x, from).includes(`${linux} 0`), 30_000, `sync key ${key}`);
  return g.serial().length;
}
