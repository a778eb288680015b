// Issue 12: per-peer limits and counters that come back down, on a real in-process TLS gateway
// with the scripted transcriber (words do not matter here) and, where REST is involved, a real
// SQLite store. The timings below are protocol settings (auth deadline, idle timeout, TLS
// deadline) chosen short; no assertion depends on how fast this machine is.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import WebSocket from "ws";
import { authed, connect, startTestGateway, testConfig, type TestGateway } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { wavChunks } from "../helpers/pipeline.js";
import { https, metricValue, sleep, until } from "../faults/_util.js";
import { jfkScript } from "../client/_server.js";
import { createSttService } from "../../src/stt/service.js";
import { FakeTranscriber, timelineResponder } from "../../src/stt/fake.js";
import { createAudioIngest } from "../../src/audio/ingest.js";
import { createRepository } from "../../src/store/index.js";
import type { Repository } from "../../src/store/types.js";
import type { TokenVerifier } from "../../src/auth/verifier.js";
import { createVerifier } from "../../src/auth/verifier.js";
import { truncateUtf8 } from "../../src/transport/ws-limits.js";
import { silentLogger } from "../../src/util/log.js";

async function gateway(env: Record<string, string> = {}, opts: { store?: boolean; verifier?: TokenVerifier } = {}): Promise<TestGateway & { store: Repository | null }> {
  const baseEnv = { PARLANCE_STT_ENGINE: "fake", ...env };
  const config = testConfig(baseEnv);
  const stt = await createSttService(config, silentLogger, {
    transcriber: new FakeTranscriber({ respond: timelineResponder(jfkScript()), delayMs: 5 }),
    capacityStreams: 16,
  });
  after(() => stt.close());
  const store = opts.store ? await createRepository(config, silentLogger) : null;
  if (store) after(() => store.close());
  const gw = await startTestGateway(
    { ...baseEnv, PARLANCE_DATA_DIR: config.dataDir },
    { stt, audio: (cfg) => createAudioIngest(cfg), store, ...(opts.verifier ? { verifier: opts.verifier } : {}) },
  );
  return Object.assign(gw, { store });
}

/** The registry read in-process: a scrape over TLS would itself count as a connection. */
const metrics = (gw: TestGateway) => gw.metrics.registry.metrics();

/** A sample's value; 0 for a labelled counter that has no sample yet. */
const count = (text: string, name: string, labels = "") => {
  const v = metricValue(text, name, labels);
  return Number.isNaN(v) ? 0 : v;
};

/** One raw HTTP request over TLS; resolves with the status line's code (null if none) once the server closes. */
function rawRequest(gw: TestGateway, head: string): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = "";
    const s = tlsConnect({ host: "127.0.0.1", port: gw.port, ca: gw.ca, servername: "localhost" }, () => s.write(head));
    s.on("data", (d: Buffer) => (buf += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? null));
    setTimeout(() => s.destroy(), 5000).unref();
  });
}

const upgradeHead = (target: string, key: string, version = "13") =>
  `GET ${target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;

test("100 failed upgrades from one address, then a valid one from it: accepted; the pending-auth count is back to 0", async () => {
  const gw = await gateway(); // default per-IP cap: 64
  const statuses = new Map<string, number>();
  const bad = [
    (i: number) => upgradeHead("/v1/stream", `not-a-key-${i}`),
    () => upgradeHead("/v1/stream", randomBytes(16).toString("base64"), "7"),
    () => upgradeHead("//[/v1/stream", randomBytes(16).toString("base64")),
    () => upgradeHead("/v1/stream?%zz", randomBytes(16).toString("base64")),
  ];
  for (let i = 0; i < 100; i += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => rawRequest(gw, bad[(i + j) % bad.length]!(i + j))));
    for (const s of batch) statuses.set(String(s), (statuses.get(String(s)) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(statuses), { "400": 100 });
  const m = await until("pending auth back to 0", async () => {
    const t = await metrics(gw);
    return metricValue(t, "parlance_pending_auth_connections") === 0 && metricValue(t, "parlance_upgrades_in_progress") === 0 ? t : null;
  });
  assert.equal(count(m, "parlance_handler_errors_total"), 0);
  const c = await authed(gw, await hsToken({ sub: "after-failures" }));
  await c.next("ready");
  c.ws.close();
});

test("connections that never authenticate: closed at the auth deadline (4408) even when the peer never answers the close; counted meanwhile", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "600", PARLANCE_LIMITS_PRE_AUTH_CLOSE_GRACE_MS: "300" });
  // A raw socket that completes the upgrade and then never reads nor answers anything.
  const raw = await new Promise<{ closed: Promise<number> }>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port: gw.port, ca: gw.ca, servername: "localhost" }, () => s.write(upgradeHead("/v1/stream", randomBytes(16).toString("base64"))));
    const opened = Date.now();
    const closed = new Promise<number>((r) => s.on("close", () => r(Date.now() - opened)));
    s.on("error", () => {});
    s.once("data", (d: Buffer) => (/^HTTP\/1\.1 101/.test(d.toString("latin1")) ? resolve({ closed }) : reject(new Error(d.toString()))));
  });
  const during = await metrics(gw);
  assert.equal(metricValue(during, "parlance_connections", 'state="awaiting_auth"'), 1);
  assert.equal(metricValue(during, "parlance_pending_auth_connections"), 1);
  const ms = await raw.closed;
  // Protocol bound: deadline + close grace (+ the 1 s the acceptance allows for scheduling).
  assert.ok(ms < 600 + 300 + 1000, `closed after ${ms} ms`);
  const m = await until("gauges back to 0", async () => {
    const t = await metrics(gw);
    return metricValue(t, "parlance_connections") === 0 && metricValue(t, "parlance_pending_auth_connections") === 0 ? t : null;
  });
  assert.equal(count(m, "parlance_closes_total", 'code="1006"') + count(m, "parlance_closes_total", 'code="4408"'), 1);
  assert.equal(gw.sessions.size, 0);
});

test("a client sending only empty binary frames is closed by the idle timeout (4409)", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_IDLE_TIMEOUT_MS: "800" });
  const c = await authed(gw, await hsToken({ sub: "empty-frames" }));
  await c.next("ready");
  const pump = setInterval(() => c.ws.readyState === WebSocket.OPEN && c.ws.send(Buffer.alloc(0)), 50);
  const closed = await c.closed;
  clearInterval(pump);
  assert.equal(closed.code, 4409);
  assert.equal(c.messages.find((m) => m.type === "error")?.code, "idle_timeout");
  const m = await metrics(gw);
  assert.ok(metricValue(m, "parlance_messages_in_total", 'type="empty_audio"') > 5);
  assert.equal(count(m, "parlance_messages_in_total", 'type="audio"'), 0);
});

test("audio faster than the learner's rate: dropped with a non-fatal rate_limited, then closed 4420; reconnecting does not refill the bucket", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_AUDIO_REALTIME_RATIO: "1", PARLANCE_LIMITS_AUDIO_BURST_MS: "2000" });
  const token = await hsToken({ sub: "flooder" });
  const c = await authed(gw, token);
  await c.next("ready");
  const frame = Buffer.alloc(8000); // 250 ms of 16 kHz s16 mono
  for (let i = 0; i < 200 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send(frame);
  const closed = await c.closed;
  assert.equal(closed.code, 4420);
  const errors = c.messages.filter((m) => m.type === "error");
  assert.deepEqual(
    errors.map((e) => [e.code, e.fatal]),
    [
      ["rate_limited", false],
      ["rate_limited", true],
    ],
  );
  const m = await metrics(gw);
  // Accepted: the 2 s burst (+ what refilled meanwhile); dropped: a quarter of the burst more, then closed.
  assert.ok(metricValue(m, "parlance_dropped_audio_seconds_total", 'reason="rate"') > 0.5);
  // The same learner reconnecting finds the bucket as it left it: refused before ready, told why.
  const again = await authed(gw, token);
  assert.equal((await again.closed).code, 4420);
  assert.ok(!again.messages.some((x) => x.type === "ready"));
  assert.equal(again.messages.find((x) => x.type === "error")?.code, "rate_limited");
  assert.match(String(again.messages.find((x) => x.type === "error")?.message), /retry in \d+ ms/);
  // Another learner is not affected.
  const other = await authed(gw, await hsToken({ sub: "someone-else" }));
  await other.next("ready");
  for (let i = 0; i < 4; i++) other.ws.send(frame);
  other.ws.send(JSON.stringify({ type: "end" }));
  await other.next("ended");
  assert.equal(other.messages.filter((x) => x.type === "error").length, 0);
});

test("per-subject cap on concurrent sessions: the excess gets too_many_sessions (4420); a slot frees when one ends", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_MAX_SESSIONS_PER_SUBJECT: "2" });
  const token = await hsToken({ sub: "tabs" });
  const a = await authed(gw, token);
  const b = await authed(gw, token);
  await a.next("ready");
  await b.next("ready");
  const c = await authed(gw, token);
  assert.equal((await c.closed).code, 4420);
  assert.equal(c.messages.find((m) => m.type === "error")?.code, "too_many_sessions");
  a.ws.close();
  await a.closed;
  const d = await until("a slot after one closed", async () => {
    const x = await authed(gw, token);
    const r = await Promise.race([x.next("ready").then(() => x), x.closed.then(() => null)]);
    return r;
  });
  b.ws.close();
  d.ws.close();
  await until("subjects ledger empty", async () => metricValue(await metrics(gw), "parlance_subjects_tracked") === 0 || null, 10_000);
});

test("reauth is rate-limited: 500 reauths in a burst cause at most a couple of verifications; the session goes on", async () => {
  const config = testConfig();
  const real = await createVerifier(config.jwt);
  let calls = 0;
  const counting = new Proxy(real, {
    get(target, prop) {
      if (prop === "verify") {
        return (t: string) => {
          calls++;
          return target.verify(t);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const gw = await gateway({}, { verifier: counting });
  const token = await hsToken({ sub: "reauther" });
  const c = await authed(gw, token);
  await c.next("ready");
  const before = calls;
  const msg = JSON.stringify({ type: "reauth", token });
  for (let i = 0; i < 500; i++) c.ws.send(msg);
  await until("a rate_limited notice", () => c.messages.some((m) => m.type === "error" && m.code === "rate_limited") || null, 10_000, 20);
  await sleep(300);
  assert.ok(calls - before <= 2, `${calls - before} verifications for 500 reauths`);
  const notices = c.messages.filter((m) => m.type === "error" && m.code === "rate_limited");
  assert.ok(notices.length >= 1 && notices.length <= 2, `${notices.length} notices`);
  assert.equal(c.ws.readyState, WebSocket.OPEN);
  c.ws.close();
});

test("close reasons are cut at a UTF-8 boundary within 123 bytes", async () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.integer({ min: 0, max: 200 }), (s, max) => {
      const out = truncateUtf8(s, max);
      const bytes = Buffer.byteLength(out);
      assert.ok(bytes <= Math.max(max, 0) || bytes === Buffer.byteLength(s));
      assert.ok(s.startsWith(out) || Buffer.from(s).subarray(0, bytes).equals(Buffer.from(out)));
      // Maximal: one more character would not fit.
      const whole = Buffer.from(s);
      if (bytes < whole.length) assert.ok(Buffer.from(Buffer.from(s).subarray(0, bytes + 4).toString("utf8")).length > max || bytes + 4 > whole.length);
    }),
    { seed: 1212, numRuns: 2000 },
  );
  // End to end: an auth message whose unknown key is multi-byte text ends up in the close reason.
  const gw = await gateway();
  const c = await connect(gw.wsUrl, gw.ca);
  c.ws.send(JSON.stringify({ type: "auth", token: "x", ["é".repeat(100)]: 1 }));
  const closed = await c.closed;
  assert.equal(closed.code, 4400);
  assert.ok(Buffer.byteLength(closed.reason) <= 123 && closed.reason.length > 0, closed.reason);
  assert.equal(c.messages[0]?.code, "protocol_violation");
  assert.equal(count(await metrics(gw), "parlance_handler_errors_total"), 0);
});

test("DELETE of a live session ends it first; the client is told it was deleted, and nothing of it comes back", async () => {
  const gw = await gateway({}, { store: true });
  const token = await hsToken({ sub: "eraser" });
  const c = await authed(gw, token);
  const ready = await c.next("ready");
  const id = String(ready.session_id);
  for (const chunk of wavChunks("jfk.wav").slice(0, 28)) c.ws.send(chunk);
  await c.next("final", 20_000);
  assert.ok((await gw.store!.getSegments(id)).length > 0);
  const del = await https(gw.url, gw.ca, "DELETE", `/v1/sessions/${id}`, token);
  assert.equal(del.status, 204);
  const closed = await c.closed;
  assert.equal(closed.code, 4404);
  const last = c.messages.at(-1)!;
  assert.equal(last.code, "session_deleted");
  assert.equal(last.fatal, true);
  assert.ok(!c.messages.some((m) => /stored|saved/i.test(String(m.message ?? ""))), JSON.stringify(c.messages.filter((m) => m.type === "error")));
  assert.ok(!c.messages.some((m) => m.type === "analysis_started"));
  await sleep(300);
  assert.equal(await gw.store!.getSession(id), null);
  assert.deepEqual(await gw.store!.getSegments(id), []);
  assert.equal((await https(gw.url, gw.ca, "GET", `/v1/sessions/${id}`, token)).status, 404);
});

test("REST: malformed query strings are 400, not 500", async () => {
  const gw = await gateway({}, { store: true });
  const token = await hsToken({ sub: "rest" });
  for (const q of ["limit=abc", "limit=0", "limit=1e9", "before=nope", "before=2026-13-45T99:99:99Z", "limit=1&limit=2", "unknown=1", "x=%", "x=%zz"]) {
    const r = await https(gw.url, gw.ca, "GET", `/v1/sessions?${q}`, token);
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
  }
  assert.equal((await https(gw.url, gw.ca, "GET", "/v1/sessions?limit=5&before=2030-01-01T00:00:00Z", token)).status, 200);
  assert.equal((await https(gw.url, gw.ca, "GET", "/v1/sessions/%E0%A4%A", token)).status, 400);
});

test("TLS: a TCP connection that never starts TLS is dropped at the handshake deadline; connections before TLS are capped", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_TLS_HANDSHAKE_TIMEOUT_MS: "1500", PARLANCE_LIMITS_MAX_PENDING_TLS: "3" });
  const open = (): Promise<{ s: Socket; closed: Promise<number> }> =>
    new Promise((resolve) => {
      const s = netConnect(gw.port, "127.0.0.1", () => resolve({ s, closed }));
      const t0 = Date.now();
      const closed = new Promise<number>((r) => s.on("close", () => r(Date.now() - t0)));
      s.on("error", () => {});
    });
  const held = [await open(), await open(), await open()];
  await until("3 pending TLS", async () => metricValue(await metrics(gw), "parlance_tls_pending_connections") === 3 || null, 5000, 20);
  const fourth = await open();
  const order: string[] = [];
  void fourth.closed.then(() => order.push("fourth"));
  void Promise.all(held.map((h) => h.closed)).then(() => order.push("held"));
  await Promise.all([fourth.closed, ...held.map((h) => h.closed)]);
  assert.deepEqual(order, ["fourth", "held"], "the one over the cap is dropped at accept, the others at the deadline");
  for (const h of held) assert.ok((await h.closed) < 1500 + 1000, `held ${await h.closed} ms`);
  const m = await until("pending TLS back to 0", async () => {
    const t = await metrics(gw);
    return metricValue(t, "parlance_tls_pending_connections") === 0 ? t : null;
  });
  assert.ok(metricValue(m, "parlance_rejected_upgrades_total", 'reason="pending_tls"') >= 1);
  // Real clients are served again.
  const c = await authed(gw, await hsToken({ sub: "after-tls" }));
  await c.next("ready");
  c.ws.close();
});
