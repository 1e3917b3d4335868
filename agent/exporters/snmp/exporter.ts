/**
 * SnmpExporter: LIBVIRT-MIB + RFC 7666 VM-MIB from the state store, as a standalone UDP
 * agent or an AgentX subagent of snmpd, with notifications driven by domain.lifecycle.
 * SETs act only through dispatch() (caller = SNMP user, via "snmp").
 */
import type { Logger } from "pino";
import type { Dispatcher } from "../../control/dispatch.js";
import type { Services } from "../../control/types.js";
import type { Component } from "../../core/component.js";
import { bootEngine, type EngineState } from "./engine-state.js";
import { MibSource } from "./mib-source.js";
import { Notifier } from "./notifier.js";
import { commitSet, planSet, snmpWritable, type SetVarbind } from "./set-plan.js";
import type { SnmpSettings } from "./settings.js";
import { StandaloneAgent } from "./standalone.js";
import { Subagent } from "./subagent.js";
import { VmIndexMap } from "./vm-index.js";

export interface SnmpExporterOptions {
  services: Services;
  dispatcher: Dispatcher;
  /** The `snmp` config section as loaded (defaults filled by the config loader). */
  config: SnmpSettings;
  stateDir: string;
  log: Logger;
}

export class SnmpExporter implements Component {
  readonly name = "snmp";
  readonly source: MibSource;
  engine?: EngineState;
  private standalone?: StandaloneAgent;
  private subagent?: Subagent;
  private notifier?: Notifier;
  private readonly vmIndex: VmIndexMap;

  constructor(private readonly opts: SnmpExporterOptions) {
    this.vmIndex = new VmIndexMap(opts.stateDir);
    this.source = new MibSource({ services: opts.services, vmIndex: this.vmIndex, log: opts.log, ttlMs: opts.config.cache_ms });
    this.source.perVmNotifications = opts.config.notifications.per_vm;
    this.source.bulkNotifications = opts.config.notifications.bulk;
  }

  /** The UDP port the standalone agent listens on (useful with port 0). */
  get port(): number {
    return this.standalone?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    if (!config.enabled) return;
    await this.vmIndex.load();
    this.engine = await bootEngine(this.opts.stateDir, config.engine_id);
    const runSet = (vbs: SetVarbind[], user: string) => this.runSet(vbs, user);
    if (config.mode === "agentx") {
      this.subagent = new Subagent({ settings: config, source: this.source, runSet, plan: (vbs) => this.plan(vbs), commit: (p, u) => this.commit(p, u), log });
      await this.subagent.start();
    } else {
      this.standalone = new StandaloneAgent({ settings: config, engine: this.engine, source: this.source, runSet, log });
      await this.standalone.start();
    }
    this.notifier = new Notifier({ settings: config, source: this.source, vmIndex: this.vmIndex, services: this.opts.services, engine: this.engine, subagent: this.subagent, log });
    this.notifier.start();
  }

  async stop(): Promise<void> {
    this.notifier?.stop();
    await this.standalone?.stop();
    await this.subagent?.stop();
    await this.vmIndex.flush().catch(() => undefined);
  }

  plan(vbs: SetVarbind[]): ReturnType<typeof planSet> {
    return planSet(vbs, this.opts.services.store, (op) => snmpWritable(this.opts.dispatcher, op));
  }

  async commit(plan: ReturnType<typeof planSet>, user: string): Promise<{ errorStatus: number; errorIndex: number }> {
    if (!plan.ok) return plan;
    try {
      return await commitSet(plan, {
        dispatcher: this.opts.dispatcher,
        caller: { user, via: "snmp" },
        deadlineMs: this.opts.config.set_deadline_ms,
        setFlag: (which, value) => {
          if (which === "perVm") this.source.perVmNotifications = value;
          else this.source.bulkNotifications = value;
        },
      });
    } finally {
      this.source.invalidate();
    }
  }

  private runSet(vbs: SetVarbind[], user: string): Promise<{ errorStatus: number; errorIndex: number }> {
    return this.commit(this.plan(vbs), user);
  }
}
