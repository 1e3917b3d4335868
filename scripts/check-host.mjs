#!/usr/bin/env node
// Runs before `npm test`: the integration tests use real host components (DESIGN.md §7).
// Every missing one is installed with apt-get when we are root on Debian (CI, the quick
// start), otherwise named with its Debian package and the run fails: never a silent skip.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";

/** command or file that must exist → Debian package providing it */
const REQUIRED = [
  ["qemu-system-x86_64", "qemu-system-x86"],
  ["qemu-img", "qemu-utils"],
  ["snmpwalk", "snmp"],
  ["snmptrapd", "snmptrapd"],
  ["snmpd", "snmpd"],
  ["promtool", "prometheus"],
  ["amqp-consume", "amqp-tools"],
  ["dnsmasq", "dnsmasq-base"],
  ["nft", "nftables"],
  ["ip", "iproute2"],
  ["busybox", "busybox-static"],
  ["dpkg-deb", "dpkg"],
  ["cc", "gcc"],
  ["/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "ovmf"],
  ["python3", "python3"],
  ["/usr/lib/python3/dist-packages/pika/__init__.py", "python3-pika"],
  ["rabbitmq-server", "rabbitmq-server"],
];

const PATH_DIRS = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);

function have(what) {
  if (what.startsWith("/")) return existsSync(what);
  return PATH_DIRS.some((d) => existsSync(`${d}/${what}`));
}

function run(cmd, args) {
  console.error(`check-host: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return r.status === 0;
}

function brokerUp() {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port: 5672 });
    s.setTimeout(1000);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
    s.once("timeout", () => (s.destroy(), resolve(false)));
  });
}

async function ensureBroker() {
  if (await brokerUp()) return true;
  if (!have("rabbitmq-server")) return false;
  run("rabbitmq-server", ["-detached"]);
  for (let i = 0; i < 60; i++) {
    if (await brokerUp()) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

const missing = [...new Set(REQUIRED.filter(([what]) => !have(what)).map(([, pkg]) => pkg))];
const root = process.getuid?.() === 0;
if (missing.length > 0 && root && have("apt-get") && process.env.VIRTBUS_NO_INSTALL !== "1") {
  console.error(`check-host: installing missing host packages: ${missing.join(" ")}`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing]);
}
const still = [...new Set(REQUIRED.filter(([what]) => !have(what)).map(([, pkg]) => pkg))];
if (still.length > 0) {
  console.error(`check-host: the tests need these Debian packages: ${still.join(" ")}`);
  console.error(`check-host: install them with: apt-get install -y ${still.join(" ")}`);
  process.exit(1);
}
if (!(await ensureBroker())) {
  console.error("check-host: no RabbitMQ broker on 127.0.0.1:5672 and it could not be started (package rabbitmq-server; start it with: rabbitmq-server -detached)");
  process.exit(1);
}
if (!existsSync("/dev/net/tun")) console.error("check-host: note: /dev/net/tun is missing; network tests will fail");
console.error("check-host: host packages and broker OK");
