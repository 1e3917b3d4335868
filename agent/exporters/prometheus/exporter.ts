/**
 * The Prometheus endpoint: `/metrics` from an own prom-client Registry, on 127.0.0.1:9177
 * by default, with optional TLS and bcrypt basic auth (exporter-toolkit web-config style).
 *
 * By default a scrape serves the collector's latest background round and never waits on
 * QEMU; with `freshness_ms` set it first collects when the last round is older than that.
 * A round settles within the per-guest deadline, so a hung guest delays a scrape by at most
 * that deadline (once: later rounds fail at once while QEMU owes an answer) and is served
 * with its last good values, `virtbus_domain_stats_up 0` and an age.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import type { Component } from "../../core/component.js";
import type { AgentConfig } from "../../core/config-types.js";
import type { StatsCollector } from "../../control/stats-collector.js";
import type { Services } from "../../control/types.js";
import { AgentError } from "../../model/errors.js";
import { isActive } from "../../model/state.js";
import { registerLibvirtMetrics } from "./metrics-libvirt.js";
import { EventMetrics, HealthMetrics, registerVirtbusMetrics } from "./metrics-virtbus.js";
import type { GuestRow, ScrapeView } from "./series.js";
import { BasicAuth } from "./web-auth.js";

export type PrometheusConfig = AgentConfig["prometheus"];

export interface PrometheusExporterOptions {
  services: Services;
  config: PrometheusConfig;
  log: Logger;
  /** The collector whose freshness a scrape may trigger; without one, the store's stats are served as they are. */
  collector?: StatsCollector;
}

const OWNER = "prometheus";

export class PrometheusExporter implements Component {
  readonly name = "prometheus";
  /** Our own registry: the process-global one would mix in every library's metrics. */
  readonly registry = new Registry();
  private readonly health: HealthMetrics;
  private readonly auth: BasicAuth;
  private server: Server | undefined;
  private view: ScrapeView | undefined;

  constructor(private readonly opts: PrometheusExporterOptions) {
    const { services } = opts;
    const source = () => this.view ?? this.takeView();
    registerLibvirtMetrics(this.registry, source);
    registerVirtbusMetrics(this.registry, source, {
      version: services.version,
      hypervisorDriver: services.hypervisor.info.name,
      hypervisorVersion: services.hypervisor.info.hypervisorVersion,
      startedAt: services.startedAt,
    });
    new EventMetrics(this.registry).attach(services.bus, OWNER);
    this.health = new HealthMetrics(this.registry, services.store);
    this.auth = new BasicAuth(opts.config.basic_auth_users ?? {});
  }

  /** The bound address (the real port when `listen` asked for port 0). */
  get address(): { host: string; port: number; url: string } {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) throw new AgentError("operation_invalid", "prometheus exporter is not listening", { component: "control" });
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.opts.config.tls ? "https" : "http"}://${host}:${a.port}` };
  }

  /**
   * @throws AgentError invalid_arg for a malformed `listen` or unreadable TLS files,
   *   operation_failed when the address cannot be bound.
   */
  async start(): Promise<void> {
    const { host, port } = parseListen(this.opts.config.listen);
    const server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", (cause) => reject(new AgentError("operation_failed", `cannot listen on ${this.opts.config.listen}: ${cause.message}`, { component: "control", cause })));
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
    this.opts.log.info({ url: `${this.address.url}/metrics`, auth: this.auth.enabled }, "prometheus exporter listening");
  }

  async stop(): Promise<void> {
    this.opts.services.bus.off(OWNER);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** One scrape's exposition text; never waits longer than about the per-guest deadline. */
  async scrape(): Promise<string> {
    await this.refreshStats();
    this.health.sync();
    this.view = this.takeView();
    try {
      return await this.registry.metrics();
    } finally {
      this.view = undefined;
    }
  }

  private async refreshStats(): Promise<void> {
    const collector = this.opts.collector;
    if (!collector) return;
    let timer: NodeJS.Timeout | undefined;
    // The collector is bounded by its own per-guest timers; this cap only guards against a bug there.
    const cap = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, collector.config.deadline_ms + 100);
    });
    try {
      await Promise.race([collector.refresh(), cap]);
    } finally {
      clearTimeout(timer);
    }
  }

  private takeView(): ScrapeView {
    const { store } = this.opts.services;
    const collector = this.opts.collector;
    const now = Date.now();
    const rows = store.listDomains().map((view): GuestRow => {
      const row: GuestRow = { view };
      if (!isActive(view.state)) return row;
      const status = collector?.status(view.uuid);
      if (status) row.status = status;
      const stats = store.getStats(view.uuid);
      const current = collector ? status?.lastSuccessAt !== undefined : stats !== undefined && stats.collectedAt >= (view.startedAt ?? 0);
      if (stats && current) row.stats = stats;
      const age = collector ? collector.ageSeconds(view.uuid, now) : stats && current ? (now - stats.collectedAt) / 1000 : undefined;
      if (age !== undefined) row.ageSeconds = age;
      return row;
    });
    const round = collector?.lastRound;
    return round ? { now, rows, round } : { now, rows };
  }

  private createServer(): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const tls = this.opts.config.tls;
    if (!tls) return createHttpServer(handler);
    let cert: Buffer, key: Buffer;
    try {
      cert = readFileSync(tls.cert_file);
      key = readFileSync(tls.key_file);
    } catch (cause) {
      throw new AgentError("invalid_arg", `prometheus.tls: ${(cause as Error).message}`, { component: "config", cause });
    }
    return createHttpsServer({ cert, key, minVersion: "TLSv1.2" }, handler);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.auth.enabled && !(await this.auth.check(req.headers.authorization))) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="virtbus"', "Content-Type": "text/plain" }).end("Unauthorized\n");
        return;
      }
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (path !== "/metrics" && path !== "/") {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("Not Found\n");
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("Method Not Allowed\n");
        return;
      }
      if (path === "/") {
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(LINK_PAGE);
        return;
      }
      const body = await this.scrape();
      res.writeHead(200, { "Content-Type": this.registry.contentType }).end(req.method === "HEAD" ? undefined : body);
    } catch (err) {
      this.opts.log.error({ err }, "scrape failed");
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end("Internal Server Error\n");
    }
  }
}

const LINK_PAGE = '<!doctype html><html><head><title>virtbus exporter</title></head><body><h1>virtbus exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>\n';

/**
 * Splits `host:port` or `[v6]:port`.
 * @throws AgentError invalid_arg
 */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  if (!m || host === undefined || port > 65535) {
    throw new AgentError("invalid_arg", `prometheus.listen: "${listen}" is not host:port`, { component: "config" });
  }
  return { host, port };
}
