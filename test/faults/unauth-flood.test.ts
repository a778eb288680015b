// Issue 12, acceptance 3 (second half): 1000 connections that complete the WebSocket upgrade and
// then never authenticate, never read and never answer the close frame, against a real `parlance
// serve` process. Each is closed within the auth deadline + 1 s (the protocol bound), a valid
// client gets `ready` meanwhile, and every gauge returns to 0. The connections come from 16
// loopback source addresses so the per-IP pending-auth cap (64, the default) stays in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { randomBytes } from "node:crypto";
import { spawnServer } from "../helpers/process.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { https, metricValue, sleep, until } from "./_util.js";

const N = 1000;
const AUTH_MS = 5000; // the default auth deadline
const ADDRESSES = 16;

interface Held {
  /** ms from the 101 to the server closing the socket. */
  closed: Promise<number>;
}

function silentUpgrade(port: number, ca: string, localAddress: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    // localAddress reaches net.connect; @types/node leaves it off tls.ConnectionOptions.
    const opts = { host: "127.0.0.1", port, ca, servername: "localhost", localAddress } as ConnectionOptions;
    const s = tlsConnect(opts, () =>
      s.write(`GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    let upgradedAt = 0;
    const closed = new Promise<number>((r) => s.on("close", () => r(Date.now() - upgradedAt)));
    s.on("error", () => {});
    s.once("data", (d: Buffer) => {
      if (!/^HTTP\/1\.1 101/.test(d.toString("latin1"))) return reject(new Error(d.toString("latin1").split("\r\n")[0]));
      upgradedAt = Date.now();
      s.on("data", () => {}); // read and ignore: the server's close frame is never answered
      resolve({ closed });
    });
    void closed.then(() => !upgradedAt && reject(new Error("closed before the upgrade")));
  });
}

test("1000 connections that never authenticate: all closed within the auth deadline + 1 s; a valid client gets ready; gauges return to 0", { timeout: 180_000 }, async () => {
  const dataDir = tempDir();
  const srv = await spawnServer({
    PARLANCE_DATA_DIR: dataDir,
    PARLANCE_DEV: "1",
    PARLANCE_STT_ENGINE: "fake",
    PARLANCE_LLM_PROVIDER: "fake",
    PARLANCE_LIMITS_MAX_CONNECTIONS: String(N + 50),
  });
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  const port = Number(new URL(srv.url).port);
  const metrics = async () => (await https(srv.url, ca, "GET", "/metrics")).text;

  const held: Held[] = [];
  for (let i = 0; i < N; i += 50) {
    const batch = Array.from({ length: Math.min(50, N - i) }, (_, j) => silentUpgrade(port, ca, `127.0.0.${2 + ((i + j) % ADDRESSES)}`));
    held.push(...(await Promise.all(batch)));
    await sleep(20); // pace the handshakes, they are what costs CPU on both sides
  }
  const during = await metrics();
  const waiting = metricValue(during, "parlance_connections", 'state="awaiting_auth"');
  console.log(`# ${N} upgraded; gauge awaiting_auth ${waiting}, pending auth ${metricValue(during, "parlance_pending_auth_connections")}`);
  assert.ok(waiting > 0, "the gauge counts connections waiting for auth");

  // A real learner from yet another address is served while they wait.
  const good = await authed({ wsUrl: srv.wsUrl, ca }, srv.devToken!);
  await good.next("ready");

  const times = await Promise.all(held.map((h) => h.closed));
  const worst = Math.max(...times);
  console.log(`# closed after: median ${times.sort((a, b) => a - b)[N >> 1]} ms, worst ${worst} ms (bound ${AUTH_MS + 1000} ms); load ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  assert.ok(worst <= AUTH_MS + 1000, `every connection closed within the auth deadline + 1 s (worst ${worst} ms)`);
  assert.equal(good.ws.readyState, good.ws.OPEN, "the valid session is untouched");
  good.ws.close();

  const after = await until(
    "gauges back to 0",
    async () => {
      const t = await metrics();
      const open =
        metricValue(t, "parlance_connections") +
        metricValue(t, "parlance_pending_auth_connections") +
        metricValue(t, "parlance_upgrades_in_progress") +
        metricValue(t, "parlance_tls_pending_connections");
      return open === 0 ? t : null;
    },
    15_000,
    250,
  );
  assert.ok(metricValue(after, "parlance_closes_total") >= N);
  const exit = await srv.stop("SIGTERM");
  assert.equal(exit.code, 0, srv.output());
});
