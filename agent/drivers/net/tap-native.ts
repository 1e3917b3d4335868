/**
 * Loader for native/build/tap.node (built by native/build.mjs from ensure-deps).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AgentError } from "../../model/errors.js";

export interface TapAddon {
  /** Opens /dev/net/tun (inside `netnsPath` when given) bound to tap `name`; IFF_TUN_EXCL when `exclusive`. */
  openTap(name: string, netnsPath: string | null, exclusive: boolean): { fd: number; name: string };
}

let cached: TapAddon | undefined;

/** Walks up from this module (agent/… or dist/agent/…) to the checkout's native/build. */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "native", "build", "tap.node");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return undefined;
}

/** @throws AgentError no_support when the addon has not been built. */
export function tapAddon(): TapAddon {
  if (cached) return cached;
  const path = findAddon();
  if (path === undefined) throw new AgentError("no_support", "tap support is not built: run `node native/build.mjs` (needs gcc)", { component: "network" });
  cached = createRequire(import.meta.url)(path) as TapAddon;
  return cached;
}
