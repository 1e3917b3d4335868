#!/usr/bin/env node
// Runs before `npm start` and `npm test`: installs the npm dependencies exactly as locked
// (npm ci) when they are missing or older than package-lock.json, so a clean clone needs
// nothing but the README's two commands.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const marker = "node_modules/.package-lock.json";
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync("package-lock.json").mtimeMs;
if (stale) {
  console.error("ensure-deps: installing npm dependencies (npm ci)");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// The TUNSETIFF addon (native/build/tap.node) is never committed: build it when missing or stale.
const nativeBuild = spawnSync(process.execPath, ["native/build.mjs"], { stdio: "inherit" });
if (nativeBuild.status !== 0) process.exit(nativeBuild.status ?? 1);
