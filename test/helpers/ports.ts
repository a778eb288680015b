// A loopback port that was free a moment ago: for servers the tests start (Redis, PostgreSQL),
// and, left unused, for "the server is down" (connection refused on a port the config names).
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
