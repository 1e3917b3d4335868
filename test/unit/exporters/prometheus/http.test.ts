import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PrometheusExporter, type PrometheusConfig } from "../../../../agent/exporters/prometheus/exporter.js";
import { makeHarness } from "../../../helpers/harness.js";

const exporters: PrometheusExporter[] = [];
const tmp = mkdtempSync(join(tmpdir(), "virtbus-prom-http-"));
afterEach(async () => {
  for (const e of exporters.splice(0)) await e.stop();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function startExporter(extra: Partial<PrometheusConfig> = {}): Promise<PrometheusExporter> {
  const h = await makeHarness({ demoDomains: 1 });
  const config: PrometheusConfig = { enabled: true, listen: "127.0.0.1:0", stats: { interval_ms: 5000, deadline_ms: 500, freshness_ms: 1000 }, ...extra };
  const ex = new PrometheusExporter({ services: h.services, config, log: h.services.log });
  exporters.push(ex);
  await ex.start();
  return ex;
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

describe("PrometheusExporter HTTP", () => {
  it("serves /metrics in the text format on a loopback port and 404 on other paths", async () => {
    const ex = await startExporter();
    expect(ex.address.host).toBe("127.0.0.1");
    const res = await fetch(`${ex.address.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(/^libvirt_domain_info_vstate\{domain="demo-1"\} 1$/m);
    expect((await fetch(`${ex.address.url}/debug`)).status).toBe(404);
    expect((await fetch(`${ex.address.url}/`)).status).toBe(200);
    expect((await fetch(`${ex.address.url}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("with basic_auth_users, refuses missing or wrong credentials and accepts the bcrypt-hashed password", async () => {
    const ex = await startExporter({ basic_auth_users: { prom: bcrypt.hashSync("s3cret-scrape", 4) } });
    const url = `${ex.address.url}/metrics`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect((await fetch(url, { headers: basic("prom", "wrong") })).status).toBe(401);
    expect((await fetch(url, { headers: basic("nobody", "s3cret-scrape") })).status).toBe(401);
    expect((await fetch(url, { headers: basic("prom", "s3cret-scrape") })).status).toBe(200);
    expect((await fetch(url, { headers: basic("prom", "s3cret-scrape") })).status).toBe(200);
  });

  it("with tls, serves /metrics over HTTPS with the configured certificate", async () => {
    const cert = join(tmp, "cert.pem");
    const key = join(tmp, "key.pem");
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    } catch (err) {
      throw new Error(`openssl is needed to make a test certificate (Debian package: openssl): ${String(err)}`);
    }
    const ex = await startExporter({ tls: { cert_file: cert, key_file: key } });
    expect(ex.address.url).toMatch(/^https:/);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${ex.address.url}/metrics`, { ca: readFileSync(cert) }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end();
    });
    expect(body).toContain("virtbus_build_info");
  });

  it("fails to start with operation_failed when the port is taken", async () => {
    const first = await startExporter();
    await expect(startExporter({ listen: `127.0.0.1:${first.address.port}` })).rejects.toMatchObject({ code: "operation_failed" });
  });
});
