/**
 * The exporter list: each transport the config enables, in start order. Kept apart from
 * main.ts so the composition of transports is one explicit list.
 */
import type { Logger } from "pino";
import type { Component } from "./core/component.js";
import type { ResolvedConfig } from "./core/config.js";
import type { Dispatcher } from "./control/dispatch.js";
import type { Services } from "./control/types.js";

export function buildExporters(cfg: ResolvedConfig, services: Services, dispatcher: Dispatcher, log: Logger): Component[] {
  void cfg;
  void services;
  void dispatcher;
  void log;
  return [];
}
