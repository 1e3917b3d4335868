import { execa } from "execa";
import { existsSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { cleanupTopology, removeDir, requireBroker, startAgent, uniquePrefix, waitUntil, type Agent } from "./env.js";

// Debian's python3 (pyenv shims may shadow it without pika).
const PY = "/usr/bin/python3";

const PIKA_CLIENT = String.raw`
import json, sys, uuid, pika
prefix = sys.argv[1]
conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672, "/", pika.PlainCredentials("guest", "guest")))
ch = conn.channel()
q = ch.queue_declare("", exclusive=True).method.queue
ch.queue_bind(q, prefix + ".reply", routing_key=q)
cid = str(uuid.uuid4())
body = {"v": 1, "command_id": cid, "op": "host.ping", "target": {"host": "h1"}, "args": {}}
ch.basic_publish(prefix + ".cmd", "host.h1", json.dumps(body),
    pika.BasicProperties(content_type="application/json", user_id="guest", reply_to=q, message_id=cid, correlation_id=cid))
for method, props, payload in ch.consume(q, inactivity_timeout=10):
    if method is None:
        print(json.dumps({"timeout": True})); break
    r = json.loads(payload)
    if r.get("status") == "accepted":
        continue
    print(json.dumps({"reply": r, "correlation_id": props.correlation_id, "sent": cid})); break
conn.close()
`;

describe("interop with clients nobody here wrote", () => {
  let prefix = "";
  let agent: Agent | undefined;

  beforeAll(async () => {
    await requireBroker();
    if (!existsSync(PY)) throw new Error("/usr/bin/python3 missing: install Debian package python3-pika");
    const r = await execa(PY, ["-c", "import pika"], { reject: false });
    if (r.exitCode !== 0) throw new Error("python pika missing: install Debian package python3-pika");
    if (!existsSync("/usr/bin/amqp-consume")) throw new Error("amqp-consume missing: install Debian package amqp-tools");
  });

  afterEach(async () => {
    await agent?.exporter.stop();
    if (agent) removeDir(agent.stateDir);
    await cleanupTopology(prefix, ["h1"]);
    agent = undefined;
  });

  it("Python pika sends host.ping with user_id and gets an ok reply correlated to its command", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const r = await execa(PY, ["-c", PIKA_CLIENT, prefix], { timeout: 20_000 });
    const out = JSON.parse(r.stdout) as { reply: { status: string; in_reply_to: string; host: string }; correlation_id: string; sent: string };
    expect(out.reply.status).toBe("ok");
    expect(out.reply.in_reply_to).toBe(out.sent);
    expect(out.correlation_id).toBe(out.sent);
    expect(out.reply.host).toBe("h1");
  });

  it("amqp-consume receives a lifecycle event published by the agent", async () => {
    prefix = uniquePrefix();
    agent = await startAgent({ prefix });
    await waitUntil(() => agent!.exporter.health().connected, 5000, "the agent to connect");
    const consumer = execa("amqp-consume", ["--server=127.0.0.1", "--port=5672", "--username=guest", "--password=guest", "-x", "-e", `${prefix}.events`, "-r", "ev.h1.domain.#", "-c", "1", "cat"], { timeout: 20_000, reject: false });
    // amqp-consume needs a moment to declare and bind its queue before the event is published
    await new Promise((r) => setTimeout(r, 700));
    const dom = agent.h.store.listDomains()[0]!;
    await agent.h.fake.suspendDomain(dom.uuid);
    const r = await consumer;
    expect(r.exitCode, r.stderr).toBe(0);
    const ev = JSON.parse(r.stdout) as { event_type: string; host: string; payload: { name: string; event: string } };
    expect(ev.event_type).toBe("domain.lifecycle");
    expect(ev.host).toBe("h1");
    expect(ev.payload.name).toBe(dom.name);
    expect(ev.payload.event).toBe("suspended");
  });
});
