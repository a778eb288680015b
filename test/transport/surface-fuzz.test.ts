// Issue 12, acceptance 1: no request line, target or header set, sent before or during the
// upgrade, ends the process. A seeded fast-check generator writes whole HTTP requests (request
// line, target, headers, and bytes after the head) over raw TLS sockets to a real in-process
// gateway with the REST API on a real SQLite store; after every case /healthz must answer 200.
// The gateway runs in the test process without the process guard, so anything thrown from a
// handler would fail this test as an uncaught exception. At the end every gauge that went up
// while the cases ran is back to 0 and no handler met an exception (handler errors are bugs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { startTestGateway, testConfig } from "../helpers/gateway.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";
import { frame, https, metricValue, until } from "../faults/_util.js";
import { parseRequestTarget } from "../../src/transport/server.js";

const SEED = Number(process.env.PARLANCE_FUZZ_SEED ?? 1212);
const RUNS = Number(process.env.PARLANCE_FUZZ_RUNS ?? 300);
/** Bounded for CI: the property stops after this long (runs done so far still count). */
const TIME_LIMIT_MS = Number(process.env.PARLANCE_FUZZ_TIME_MS ?? 40_000);

interface Sent {
  status: string | null;
  bytes: number;
}

/** Writes `req` (optionally in two pieces) over TLS; waits until the server closes or goes quiet. */
function send(port: number, ca: string, pieces: Buffer[], quietMs = 250): Promise<Sent> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    let quiet: NodeJS.Timeout;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      clearTimeout(hard);
      sock.destroy();
      const head = buf.subarray(0, 64).toString("latin1");
      resolve({ status: /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? null, bytes: buf.length });
    };
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, quietMs);
    };
    const hard = setTimeout(finish, 5000);
    const sock = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      void (async () => {
        for (const p of pieces) {
          if (sock.destroyed) return;
          sock.write(p);
          await new Promise((r) => setTimeout(r, 5));
        }
        arm();
      })();
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      arm();
    });
    sock.on("error", () => finish());
    sock.on("close", () => finish());
  });
}

const KEY = randomBytes(16).toString("base64");
const ascii = (maxLength: number) => fc.string({ unit: "binary-ascii", maxLength });
const anyText = (maxLength: number) => fc.string({ unit: "binary", maxLength });

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("GET", "POST", "HEAD", "DELETE", "OPTIONS", "PUT", "CONNECT", "PRI", "TRACE") },
  { weight: 1, arbitrary: ascii(10) },
);
const route = fc.constantFrom(
  "/v1/stream",
  "/v1/stream/",
  "/healthz",
  "/readyz",
  "/metrics",
  "/v1/sessions",
  "/v1/sessions/00000000-0000-0000-0000-000000000000",
  "/v1/sessions/x/report",
  "/",
  "/index.html",
  "/v1/dev/token",
);
const prefix = fc.constantFrom("", "", "/", "//", "//[", "//[::1]", "http://[", "http://x", "https://localhost:1", "*", "\\", "/%", "/%zz", "/%E0%A4%A", "/%C0%AF", "/..%2f..", "/%00", "[", "@", "/ ", "\u00ff");
const query = fc.oneof(
  fc.constant(""),
  fc.constantFrom("?", "?%", "?%zz", "?limit=abc", "?limit=-1", "?limit=1e309", "?limit=1&limit=2", "?before=nope", "?before=2026-13-45T99:99:99Z", "?before[]=1", "?a=%E0%A4%A", "#frag", "?x=\u0000"),
  fc.webQueryParameters().map((q) => `?${q}`),
  ascii(40).map((q) => `?${q}`),
);
const target = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(prefix, route, query).map(([a, b, c]) => a + b + c) },
  { weight: 2, arbitrary: fc.webPath() },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
  { weight: 2, arbitrary: anyText(64) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "*", "/".repeat(5000), `/v1/stream?${"a".repeat(9000)}`) },
);
const version = fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 x", "");
const headerName = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("Host", "Origin", "X-Forwarded-For", "Content-Length", "Transfer-Encoding", "Authorization", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Cookie", "Expect", "Upgrade", "Connection") },
  { weight: 1, arbitrary: ascii(16) },
);
const headerValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("Bearer x", "Bearer", "permessage-deflate; client_max_window_bits=99", "-1", "99999999999999999999", "chunked", "chunked, identity", "http://evil", "null", "[::1]:99999", "100-continue", "\u00ff\u00fe", "") },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 1, arbitrary: ascii(80) },
  { weight: 1, arbitrary: anyText(40) },
);
const wsHeaders = fc.record(
  {
    upgrade: fc.constantFrom("websocket", "WebSocket", "websocket, h2c", "h2c", ""),
    connection: fc.constantFrom("Upgrade", "upgrade, keep-alive", "keep-alive", "close", ""),
    key: fc.oneof(fc.constant(KEY), fc.base64String({ maxLength: 40 }), ascii(30)),
    version: fc.constantFrom("13", "13", "8", "12", "", "abc", "13, 8"),
  },
  { requiredKeys: [] },
);
/** Bytes after the request head: nothing, noise, or WebSocket frames (valid and not). */
const tail = fc.oneof(
  { weight: 3, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.boolean())
      .map(([opcode, payload, fin, mask]) => frame({ opcode, payload: Buffer.from(payload), fin, mask })),
  },
  { weight: 1, arbitrary: fc.constant(frame({ opcode: 1, payload: Buffer.from(JSON.stringify({ type: "auth", token: "x.y.z" })) })) },
);
const validWs = fc.record({
  upgrade: fc.constantFrom("websocket", "WebSocket"),
  connection: fc.constantFrom("Upgrade", "keep-alive, Upgrade"),
  key: fc.constant(KEY),
  version: fc.constantFrom("13", "8"),
});
/** A well-formed upgrade to /v1/stream, so that extra headers and bytes "during the upgrade" reach ws and the session. */
const upgradeRequest = fc.record({
  method: fc.constant("GET"),
  target: fc.oneof(fc.constant("/v1/stream"), query.map((q) => `/v1/stream${q}`)),
  version: fc.constant("HTTP/1.1"),
  ws: validWs,
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }),
  encoding: fc.constantFrom<"utf8" | "latin1">("utf8", "latin1"),
  tail,
  split: fc.nat({ max: 400 }),
  unterminated: fc.constant(false),
});
const freeRequest = fc.record({
  method,
  target,
  version,
  ws: fc.option(wsHeaders, { nil: undefined, freq: 3 }),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
  encoding: fc.constantFrom<"utf8" | "latin1">("utf8", "latin1"),
  tail,
  /** Where to cut the request into two writes (0 = one write). */
  split: fc.nat({ max: 400 }),
  /** Leave off the blank line that ends the head (a half-sent request). */
  unterminated: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});

const request: fc.Arbitrary<Req> = fc.oneof({ weight: 2, arbitrary: freeRequest as fc.Arbitrary<Req> }, { weight: 1, arbitrary: upgradeRequest as fc.Arbitrary<Req> });
interface Req {
  method: string;
  target: string;
  version: string;
  ws?: { upgrade?: string; connection?: string; key?: string; version?: string } | undefined;
  headers: [string, string][];
  encoding: "utf8" | "latin1";
  tail: Buffer;
  split: number;
  unterminated: boolean;
}

function encode(r: Req): Buffer[] {
  const lines = [`${r.method} ${r.target} ${r.version}`.replace(/ $/, ""), "Host: localhost"];
  if (r.ws) {
    if (r.ws.upgrade !== undefined) lines.push(`Upgrade: ${r.ws.upgrade}`);
    if (r.ws.connection !== undefined) lines.push(`Connection: ${r.ws.connection}`);
    if (r.ws.key !== undefined) lines.push(`Sec-WebSocket-Key: ${r.ws.key}`);
    if (r.ws.version !== undefined) lines.push(`Sec-WebSocket-Version: ${r.ws.version}`);
  }
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
  const head = Buffer.from(lines.join("\r\n") + (r.unterminated ? "\r\n" : "\r\n\r\n"), r.encoding);
  const all = Buffer.concat([head, r.tail]);
  if (r.split <= 0 || r.split >= all.length) return [all];
  return [all.subarray(0, r.split), all.subarray(r.split)];
}

test("parseRequestTarget refuses what a URL parser would throw on, and accepts plain origin-form targets", () => {
  for (const bad of ["//[/v1/stream", "//x/v1/stream", "/%", "/%zz", "/%E0%A4%A", "*", "http://x/", "", "/a b", "/\u00ff", "/[", "/v1/stream\\x"]) {
    assert.equal(parseRequestTarget(bad), null, bad);
  }
  assert.deepEqual(parseRequestTarget("/v1/stream"), { path: "/v1/stream", query: "" });
  assert.deepEqual(parseRequestTarget("/v1/sessions?limit=5&before=2026-01-01T00:00:00Z"), { path: "/v1/sessions", query: "limit=5&before=2026-01-01T00:00:00Z" });
  // Property: whatever is accepted, the parsers the server uses after it do not throw.
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.webPath(), fc.tuple(prefix, route, query).map(([a, b, c]) => a + b + c)), (raw) => {
      const t = parseRequestTarget(raw);
      if (!t) return;
      new URL(raw, "http://x");
      decodeURIComponent(t.path);
      new URLSearchParams(t.query);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test("HTTP/upgrade surface fuzz over raw TLS: the server answers /healthz after every case; gauges back to 0", { timeout: 180_000 }, async () => {
  const config = testConfig({ PARLANCE_STT_ENGINE: "fake", PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "1000" });
  const store = await createRepository(config, silentLogger);
  const gw = await startTestGateway(
    { PARLANCE_DATA_DIR: config.dataDir, PARLANCE_STT_ENGINE: "fake", PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "1000", PARLANCE_LIMITS_MAX_PENDING_AUTH_PER_IP: "1000" },
    { store },
  );
  const health = async () => (await https(gw.url, gw.ca, "GET", "/healthz")).status;

  // The request that ended the process before issue 12, as its own case first.
  const crash = await send(gw.port, gw.ca, [Buffer.from(`GET //[/v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`)]);
  assert.equal(crash.status, "400");
  assert.equal(await health(), 200);
  const restBad = await https(gw.url, gw.ca, "GET", "/v1/sessions?x=%");
  assert.equal(restBad.status, 400);

  const statuses = new Map<string, number>();
  let runs = 0;
  const t0 = Date.now();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      runs++;
      const out = await send(gw.port, gw.ca, encode(r));
      statuses.set(out.status ?? "none", (statuses.get(out.status ?? "none") ?? 0) + 1);
      const h = await health();
      assert.equal(h, 200, `/healthz after ${JSON.stringify(r)}`);
    }),
    { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
  );
  console.log(`# seed ${SEED}: ${runs} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.ok(runs >= 50, `at least 50 cases ran (${runs})`);
  // The generator reaches the upgrade (101) and refusals of it, and REST/page routes.
  assert.ok((statuses.get("101") ?? 0) > 0 && (statuses.get("400") ?? 0) > 0, JSON.stringify(Object.fromEntries(statuses)));

  const m = await until(
    "gauges back to 0",
    async () => {
      const text = (await https(gw.url, gw.ca, "GET", "/metrics")).text;
      const open =
        metricValue(text, "parlance_tls_pending_connections") +
        metricValue(text, "parlance_upgrades_in_progress") +
        metricValue(text, "parlance_pending_auth_connections") +
        metricValue(text, "parlance_connections");
      return open === 0 ? text : null;
    },
    10_000,
    200,
  );
  assert.equal(gw.sessions.size, 0);
  const handlerErrors = metricValue(m, "parlance_handler_errors_total");
  assert.ok(Number.isNaN(handlerErrors) || handlerErrors === 0, `no handler met an exception (${handlerErrors})`);
  await store.close();
});
