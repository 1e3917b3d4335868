/** Host tools the Prometheus integration tests need; a missing one fails with its Debian package. */
import { execa } from "execa";
import { createServer } from "node:net";

export async function requireTool(binary: string, debianPackage: string): Promise<void> {
  try {
    await execa(binary, ["--version"]);
  } catch (err) {
    throw new Error(`${binary} is not installed: apt-get install -y ${debianPackage} (${(err as Error).message})`);
  }
}

/** A loopback port free right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
