// Starts a real TLS gateway on a free loopback port for tests, and a small WebSocket client that
// records what the server says. Everything stops itself at the end of the test.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import WebSocket from "ws";
import { loadConfig, type Config } from "../../src/config/index.js";
import { createVerifier } from "../../src/auth/verifier.js";
import { ensureDevCertificate } from "../../src/transport/tls.js";
import { startGateway, type Gateway, type GatewayDeps } from "../../src/transport/server.js";
import { silentLogger } from "../../src/util/log.js";

// Random per test process: a fixed secret in the repository would be a published example, which
// production mode rightly refuses (docs/security.md). Child servers get it through their env.
export const TEST_SECRET = randomBytes(32).toString("base64url");

export function tempDir(prefix = "parlance-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function testConfig(env: Record<string, string> = {}, dataDir = tempDir()): Config {
  return loadConfig({
    env: { PARLANCE_PORT: "0", PARLANCE_DATA_DIR: dataDir, PARLANCE_JWT_SECRET: TEST_SECRET, PARLANCE_LOG_LEVEL: "silent", ...env },
  });
}

export interface TestGateway extends Gateway {
  ca: string;
  config: Config;
}

export async function startTestGateway(env: Record<string, string> = {}, deps: Partial<GatewayDeps> = {}): Promise<TestGateway> {
  const config = testConfig(env);
  const tls = config.tls.cert && config.tls.key ? { cert: config.tls.cert, key: config.tls.key } : await ensureDevCertificate(config.dataDir);
  const verifier = deps.verifier ?? (await createVerifier(config.jwt));
  const gw = await startGateway(config, { log: silentLogger, verifier, tls, ...deps });
  after(() => gw.close(200));
  return Object.assign(gw, { ca: readFileSync(tls.cert, "utf8"), config });
}

export interface Recorded {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message of this type (matching `where`, if given), or rejects when the socket closes first. */
  next(type: string, timeoutMs?: number, where?: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export function connect(url: string, ca: string, opts: WebSocket.ClientOptions = {}): Promise<Recorded> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, ...opts });
    const messages: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    let closeInfo: { code: number; reason: string } | null = null;
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on("close", (code, reason) => {
        closeInfo = { code, reason: reason.toString() };
        r(closeInfo);
        waiters.splice(0).forEach((w) => w());
      }),
    );
    ws.on("message", (data, binary) => {
      if (!binary) messages.push(JSON.parse(data.toString()));
      waiters.splice(0).forEach((w) => w());
    });
    ws.on("error", () => {});
    const next = (type: string, timeoutMs = 10_000, where?: (m: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${type}; got ${JSON.stringify(messages.map((m) => m.type))}`)), timeoutMs);
        const check = () => {
          const m = messages.find((x) => x.type === type && (!where || where(x)));
          if (m) {
            clearTimeout(timer);
            return res(m);
          }
          if (closeInfo) {
            clearTimeout(timer);
            return rej(new Error(`closed ${closeInfo.code} before ${type}; got ${JSON.stringify(messages)}`));
          }
          waiters.push(check);
        };
        check();
      });
    ws.once("open", () => resolve({ ws, messages, closed, next }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** Connects, sends an auth message with `token`, and returns the recorder. */
export async function authed(gw: { wsUrl: string; ca: string }, token: string, config?: Record<string, unknown>): Promise<Recorded> {
  const c = await connect(gw.wsUrl, gw.ca);
  c.ws.send(JSON.stringify({ type: "auth", token, ...(config ? { config } : {}) }));
  return c;
}
