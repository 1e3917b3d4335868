#!/usr/bin/env node
/**
 * `virtbusd`: the composition root. Builds every component from explicit lists (no
 * side-effect registration), starts them in order and stops them in reverse. Guests keep
 * running across an agent stop or crash; the next start re-adopts them.
 */
import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { Command } from "commander";
import type { Logger } from "pino";
import { EventBus } from "./core/bus.js";
import { startAll, stopAll, type Component } from "./core/component.js";
import { loadConfigFile, validateConfig, type ResolvedConfig } from "./core/config.js";
import { createRootLogger } from "./core/log.js";
import { StateStore } from "./core/state-store.js";
import { COMMANDS } from "./control/commands.js";
import { Dispatcher } from "./control/dispatch.js";
import { Policy } from "./control/policy.js";
import type { Services } from "./control/types.js";
import { FakeHypervisor } from "./drivers/fake/hypervisor.js";
import type { HypervisorDriver } from "./drivers/hypervisor.js";
import { NetDriver } from "./drivers/net/driver.js";
import { QemuDriver } from "./drivers/qemu/driver.js";
import { LocalSocketServer } from "./exporters/local/socket-server.js";
import { isAgentError } from "./model/errors.js";
import { VERSION } from "./version.js";
import { buildExporters } from "./exporters.js";

interface DaemonOptions {
  config?: string;
  checkConfig?: boolean;
}

export interface Agent {
  services: Services;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function buildDriver(cfg: ResolvedConfig, store: StateStore, bus: EventBus, log: Logger, net: NetDriver): Promise<HypervisorDriver> {
  const h = cfg.hypervisor;
  const useQemu = h.driver === "qemu" || (h.driver === "auto" && (await isExecutable(h.qemu_binary)));
  if (!useQemu) {
    if (h.driver === "fake") log.info("hypervisor.driver is fake: using the in-memory fake driver");
    else log.warn({ binary: h.qemu_binary }, "QEMU not found: using the in-memory fake driver");
    return new FakeHypervisor({ store, bus, log: log.child({ component: "fake" }), demoDomains: h.fake_domains });
  }
  return new QemuDriver({
    store,
    bus,
    log: log.child({ component: "qemu" }),
    stateDir: cfg.state_dir,
    runDir: cfg.run_dir,
    qemuBinary: h.qemu_binary,
    qmpTimeoutMs: h.qmp_timeout_ms,
    ...(h.qemu_user === undefined ? {} : { qemuUser: h.qemu_user }),
    openTaps: net.openTaps,
  });
}

/** Builds and starts an agent from a validated config. */
export async function startAgent(cfg: ResolvedConfig, log: Logger): Promise<Agent> {
  // Every component keeps its files under these; on a fresh host none of them exists yet.
  for (const dir of [cfg.state_dir, cfg.run_dir]) await mkdir(dir, { recursive: true, mode: 0o700 });
  const store = new StateStore();
  const bus = new EventBus(log.child({ component: "bus" }));
  const network = new NetDriver({ stateDir: cfg.state_dir, runDir: cfg.run_dir, bus, log: log.child({ component: "network" }) });
  const hypervisor = await buildDriver(cfg, store, bus, log, network);
  const services: Services = { hypervisor, network, store, bus, log, hostId: cfg.host_id, version: VERSION, startedAt: Date.now() };
  const dispatcher = new Dispatcher(COMMANDS, services, new Policy(cfg.authz));
  // networks first: autostarted guests plug into them
  const components: Component[] = [
    { name: "network", start: () => network.open(), stop: () => network.close() },
    { name: "hypervisor", start: () => hypervisor.open(), stop: () => hypervisor.close() },
    new LocalSocketServer({ path: cfg.control.socket_path, group: cfg.control.socket_group, dispatcher, bus, log: log.child({ component: "control" }) }),
    ...buildExporters(cfg, services, dispatcher, log),
  ];
  await startAll(components);
  bus.emit("agent.status", { event: "started", version: VERSION });
  log.info({ host: cfg.host_id, driver: hypervisor.info.name, version: VERSION }, "virtbus agent started");
  return {
    services,
    dispatcher,
    stop: async () => {
      bus.emit("agent.status", { event: "stopping", version: VERSION });
      await stopAll(components);
    },
  };
}

function loadConfig(opts: DaemonOptions): ResolvedConfig {
  return opts.config === undefined ? validateConfig({}) : loadConfigFile(opts.config);
}

export async function main(argv: string[]): Promise<number> {
  const opts = new Command("virtbusd")
    .description("virtbus host agent")
    .version(VERSION)
    .option("-c, --config <file>", "YAML or JSON config file (default: the embedded defaults)")
    .option("--check-config", "validate the config, print the effective config and exit")
    .parse(argv)
    .opts<DaemonOptions>();
  let cfg: ResolvedConfig;
  try {
    cfg = loadConfig(opts);
  } catch (e) {
    process.stderr.write(`virtbusd: invalid config${opts.config ? ` ${opts.config}` : ""}:\n${(e as Error).message}\n`);
    return 2;
  }
  if (opts.checkConfig) {
    process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
    return 0;
  }
  const log = createRootLogger(cfg.log_level);
  let agent: Agent;
  try {
    agent = await startAgent(cfg, log);
  } catch (e) {
    log.fatal({ err: e }, "agent failed to start");
    process.stderr.write(`virtbusd: ${isAgentError(e) ? `${e.message} [${e.code}]` : (e as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.info("stopping (guests keep running)");
  await agent.stop();
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/virtbusd")) {
  process.exitCode = await main(process.argv);
}
