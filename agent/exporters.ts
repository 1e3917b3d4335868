/**
 * The exporter list: the stats collector (it feeds Prometheus, SNMP and AMQP snapshots)
 * and each transport the config enables, in start order. Kept apart from main.ts so the
 * composition of transports is one explicit list.
 */
import type { Logger } from "pino";
import type { Component } from "./core/component.js";
import type { ResolvedConfig } from "./core/config.js";
import type { Dispatcher } from "./control/dispatch.js";
import { StatsCollector } from "./control/stats-collector.js";
import type { Services } from "./control/types.js";
import { AmqpExporter } from "./exporters/amqp/exporter.js";
import { PrometheusExporter } from "./exporters/prometheus/exporter.js";
import { SnmpExporter } from "./exporters/snmp/exporter.js";

export function buildExporters(cfg: ResolvedConfig, services: Services, dispatcher: Dispatcher, log: Logger): Component[] {
  const collector = new StatsCollector({ services, config: cfg.prometheus.stats, log: log.child({ component: "stats" }) });
  const out: Component[] = [collector];
  if (cfg.prometheus.enabled) {
    out.push(new PrometheusExporter({ services, config: cfg.prometheus, collector, log: log.child({ component: "prometheus" }) }));
  }
  if (cfg.snmp.enabled) {
    out.push(new SnmpExporter({ services, dispatcher, config: cfg.snmp, stateDir: cfg.state_dir, log: log.child({ component: "snmp" }) }));
  }
  if (cfg.amqp.enabled) {
    out.push(new AmqpExporter({ services, dispatcher, config: cfg.amqp, stateDir: cfg.state_dir, log: log.child({ component: "amqp" }) }));
  }
  return out;
}
