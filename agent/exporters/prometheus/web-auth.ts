/**
 * HTTP basic auth against bcrypt hashes, the scheme of Prometheus exporter-toolkit's
 * web-config (`basic_auth_users: {user: $2y$...}`), so operators reuse their hash tooling
 * (`htpasswd -nBC 10`). bcrypt is slow on purpose (~50-100 ms at cost 10 in JS): results
 * are cached by a SHA-256 of the credentials, as exporter-toolkit does, so a scrape every
 * second does not burn a core.
 */
import { createHash } from "node:crypto";
import bcrypt from "bcryptjs";

// A valid hash of a random string: unknown users cost the same time as known ones.
const DUMMY_HASH = "$2b$10$JG2GQ.7QbjHWKu0K96r8VOKTGTtGDZkpU0L.w2je3RyLQsMuLkuDK";
const CACHE_LIMIT = 256;

export class BasicAuth {
  private readonly cache = new Map<string, boolean>();

  constructor(private readonly users: Readonly<Record<string, string | undefined>>) {}

  get enabled(): boolean {
    return Object.keys(this.users).length > 0;
  }

  /** True when `header` (an Authorization value) names a configured user with the right password. */
  async check(header: string | undefined): Promise<boolean> {
    const creds = parseBasic(header);
    if (!creds) return false;
    const hash = Object.hasOwn(this.users, creds.user) ? this.users[creds.user] : undefined;
    const key = createHash("sha256").update(`${creds.user}\0${creds.password}\0${hash ?? ""}`).digest("hex");
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const ok = await bcrypt.compare(creds.password, hash ?? DUMMY_HASH);
    const result = ok && hash !== undefined;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, result);
    return result;
  }
}

/** Splits `Basic base64(user:password)`; undefined for anything else. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? "");
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
