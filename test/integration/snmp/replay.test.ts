import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnmpExporter } from "../../../agent/exporters/snmp/exporter.js";
import { uuidToIndex } from "../../../agent/exporters/snmp/oid.js";
import { makeHarness, type Harness } from "../../helpers/harness.js";
import { settings, snmp, v3Args } from "./tools.js";

const ADMIN = v3Args("admin", "admin-auth-pass", "admin-priv-pass");
const CALLER = { user: "test", via: "internal" } as const;
/** usmStatsNotInTimeWindows.0 (1.3.6.1.6.3.15.1.1.2.0) as BER: the varbind of the report. */
const NOT_IN_TIME_WINDOW = Buffer.from("060a2b060106030f01010200", "hex");

/** A UDP relay that records every datagram the manager sends, so a test can replay one. */
async function recordingProxy(agentPort: number): Promise<{ port: number; sent: Buffer[]; close(): Promise<void> }> {
  const front = createSocket("udp4");
  const back = createSocket("udp4");
  const sent: Buffer[] = [];
  let client: { port: number; address: string } | undefined;
  front.on("message", (msg, rinfo) => {
    client = { port: rinfo.port, address: rinfo.address };
    sent.push(Buffer.from(msg));
    back.send(msg, agentPort, "127.0.0.1");
  });
  back.on("message", (msg) => client && front.send(msg, client.port, client.address));
  await new Promise<void>((r) => front.bind(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => back.bind(0, "127.0.0.1", () => r()));
  const close = async () => {
    await new Promise<void>((r) => front.close(() => r()));
    await new Promise<void>((r) => back.close(() => r()));
  };
  return { port: front.address().port, sent, close };
}

/** Sends bytes from a fresh socket; resolves with the first answer, or undefined after `ms`. */
async function sendRaw(bytes: Buffer, port: number, ms = 1500): Promise<Buffer | undefined> {
  const sock: Socket = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      sock.once("message", (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      sock.send(bytes, port, "127.0.0.1");
    });
  } finally {
    sock.close();
  }
}

describe("replayed SNMPv3 SETs", () => {
  let h: Harness;
  let exporter: SnmpExporter;
  let stateDir: string;
  let uuid: string;
  let captured: Buffer;
  const suspends = () => h.events.filter((e) => e.name === "command.audit" && (e.payload as { op: string }).op === "domain.suspend").length;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "virtbus-snmp-replay-"));
    h = await makeHarness({ demoDomains: 1, policy: { roles: {}, users: { admin: ["admin"] } } });
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    uuid = h.store.listDomains()[0]!.uuid;
    // A real snmpset (pause) through the relay; its last datagram is the authenticated, encrypted SET.
    const proxy = await recordingProxy(exporter.port);
    try {
      const oid = `1.3.6.1.4.1.36957.1.1.1.3.${uuidToIndex(uuid).join(".")}`;
      const r = await snmp("snmpset", [...ADMIN, `udp:127.0.0.1:${proxy.port}`, oid, "i", "3"]);
      expect(r.exitCode, r.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
    captured = proxy.sent.at(-1)!;
    expect(h.store.getDomain(uuid)?.state).toBe("paused");
    await h.dispatcher.dispatch("domain.resume", { domain: uuid }, CALLER);
    exporter.source.invalidate();
  });
  afterAll(async () => {
    await exporter?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("the captured SET resent byte for byte is dropped unanswered and does not pause the guest again", async () => {
    const before = suspends();
    const answer = await sendRaw(captured, exporter.port);
    expect(answer).toBeUndefined();
    expect(h.store.getDomain(uuid)?.state).toBe("running");
    expect(suspends()).toBe(before);
  });

  it("after an agent restart (engineBoots + 1) the captured SET gets a notInTimeWindow report and changes nothing", async () => {
    await exporter.stop();
    exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings(), stateDir, log: h.services.log });
    await exporter.start();
    const before = suspends();
    const answer = await sendRaw(captured, exporter.port);
    expect(answer, "the restarted agent sent no report").toBeDefined();
    expect(answer!.includes(NOT_IN_TIME_WINDOW)).toBe(true);
    expect(h.store.getDomain(uuid)?.state).toBe("running");
    expect(suspends()).toBe(before);
  });
});
