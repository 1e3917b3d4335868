#!/usr/bin/env node
// Builds native/build/tap.node (the TUNSETIFF helper) with the system C compiler against
// Node's own headers. An N-API addon needs no libnode to link against, so no node-gyp,
// no network and no Python are involved. Rebuilds only when tap.c is newer.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "tap.c");
const out = join(here, "build", "tap.node");
const headers = [join(dirname(dirname(process.execPath)), "include", "node"), "/usr/include/node"].find((d) => existsSync(join(d, "node_api.h")));

if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);
if (headers === undefined) {
  console.error("native: node_api.h not found; install the Debian package libnode-dev (or Node's headers)");
  process.exit(1);
}
mkdirSync(join(here, "build"), { recursive: true });
const cc = process.env["CC"] ?? "cc";
const args = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-DNODE_GYP_MODULE_NAME=tap", `-I${headers}`, "-o", out, src];
const r = spawnSync(cc, args, { stdio: "inherit" });
if (r.error || r.status !== 0) {
  console.error(`native: '${cc}' failed to build ${out}; install the Debian package gcc (build-essential)`);
  process.exit(r.status ?? 1);
}
