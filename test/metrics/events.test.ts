// The metric events and their one prom-client adapter: every event type reaches a series, the
// recording sink keeps what a module emitted, and background() counts what nobody awaited.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metrics, RecordingSink, fanOut, type MetricEvent } from "../../src/metrics/index.js";
import { background } from "../../src/util/background.js";
import { silentLogger } from "../../src/util/log.js";

/** One of each event type; the adapter's switch is exhaustive, so a new type fails typecheck until it is mapped. */
const everyEvent: MetricEvent[] = [
  { type: "stt.decode", decodeMs: 120, audioSeconds: 3, queueWaitMs: 15, final: false },
  { type: "stt.decode_failed", retryable: true },
  { type: "stt.partials_skipped", count: 2 },
  { type: "stt.loop_cut" },
  { type: "stt.guard_drop", verdict: "low_logprob" },
  { type: "stt.lag", lagMs: 300 },
  { type: "stt.final" },
  { type: "session.state", from: null, to: "awaiting_auth" },
  { type: "session.closed", code: 1000 },
  { type: "session.bytes_in", kind: "binary", bytes: 100 },
  { type: "session.bytes_out", bytes: 50 },
  { type: "session.message_in", kind: "audio" },
  { type: "session.message_out", kind: "partial" },
  { type: "session.rate_limited", what: "audio" },
  { type: "session.busy" },
  { type: "session.audio_dropped", reason: "rate", seconds: 0.25 },
  { type: "session.bad_audio_frame", code: "bad_audio" },
  { type: "session.partial_dropped" },
  { type: "session.slow_consumer_closed" },
  { type: "auth.failure", reason: "expired" },
  { type: "transport.upgrade_rejected", reason: "path" },
  { type: "transport.request_refused", status: 400 },
  { type: "transport.pending_tls", count: 3 },
  { type: "transport.upgrading", count: 1 },
  { type: "rest.request", route: "/v1/sessions/:id", method: "GET", status: 200, durationMs: 4 },
  { type: "job.enqueued", scope: "session" },
  { type: "job.started", queueWaitMs: 40 },
  { type: "job.done", outcome: "ok", durationMs: 2000 },
  { type: "job.failed", durationMs: 10 },
  { type: "job.retry_scheduled" },
  { type: "job.queue_depth", pending: 4 },
  { type: "error.handler", where: "request" },
  { type: "error.background", what: "test" },
];

const value = async (m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> => {
  const metric = m.registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const got = await metric.get();
  const row = got.values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return row?.value ?? 0;
};

test("every event type moves its series", async () => {
  const m = new Metrics({ defaultMetrics: false });
  for (const e of everyEvent) m.emit(e);
  assert.equal(await value(m, "parlance_stt_decode_seconds", { le: "0.2" }), 1);
  assert.equal(await value(m, "parlance_stt_decode_seconds", { le: "0.1" }), 0);
  assert.equal(await value(m, "parlance_stt_queue_wait_seconds", { le: "0.025" }), 1);
  assert.equal(await value(m, "parlance_stt_decoded_audio_seconds_total"), 3);
  assert.equal(await value(m, "parlance_stt_skipped_partials_total"), 2);
  assert.equal(await value(m, "parlance_connections", { state: "awaiting_auth" }), 1);
  assert.equal(await value(m, "parlance_sessions_opened_total"), 1);
  assert.equal(await value(m, "parlance_bytes_in_total", { kind: "binary" }), 100);
  assert.equal(await value(m, "parlance_dropped_audio_seconds_total", { reason: "rate" }), 0.25);
  assert.equal(await value(m, "parlance_tls_pending_connections"), 3);
  assert.equal(await value(m, "parlance_rest_requests_total", { route: "/v1/sessions/:id", status: "200" }), 1);
  assert.equal(await value(m, "parlance_analysis_queue_wait_seconds", { le: "0.05" }), 1);
  assert.equal(await value(m, "parlance_analysis_jobs_total", { outcome: "ok" }), 1);
  assert.equal(await value(m, "parlance_analysis_jobs_total", { outcome: "failed" }), 1);
  assert.equal(await value(m, "parlance_analysis_queue_depth"), 4);
  assert.equal(await value(m, "parlance_background_failures_total", { what: "test" }), 1);

  m.emit({ type: "session.state", from: "awaiting_auth", to: null });
  assert.equal(await value(m, "parlance_connections", { state: "awaiting_auth" }), 0, "a connection that closes comes back down");
  assert.equal(await value(m, "parlance_sessions_opened_total"), 1);
});

test("sampled gauges read their source at scrape time", async () => {
  const m = new Metrics({ defaultMetrics: false });
  assert.equal(await value(m, "parlance_send_buffered_bytes"), 0, "no source yet: 0");
  let buffered = 10;
  m.sample("send_buffered_bytes", () => buffered);
  assert.equal(await value(m, "parlance_send_buffered_bytes"), 10);
  buffered = 7;
  assert.equal(await value(m, "parlance_send_buffered_bytes"), 7);
});

test("the recording sink keeps events in order and narrows by type; fanOut feeds both", () => {
  const rec = new RecordingSink();
  const m = new Metrics({ defaultMetrics: false });
  const both = fanOut(rec, m);
  for (const e of everyEvent) both.emit(e);
  assert.deepEqual(rec.events, everyEvent);
  const decodes = rec.of("stt.decode");
  assert.equal(decodes.length, 1);
  assert.equal(decodes[0]!.decodeMs, 120);
});

test("background() logs and counts a rejection, a synchronous throw, and leaves success alone", async () => {
  const rec = new RecordingSink();
  const warned: unknown[] = [];
  const log = { warn: (o: unknown) => void warned.push(o) } as unknown as typeof silentLogger;
  background(Promise.reject(new Error("boom")), "store write", log, rec);
  background(() => {
    throw new Error("sync");
  }, "sync start", log, rec);
  background(Promise.resolve(1), "fine", log, rec);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    rec.of("error.background").map((e) => e.what),
    ["store write", "sync start"],
  );
  assert.equal(warned.length, 2);
});

test("background() survives a logger that throws (no unhandled rejection)", async () => {
  const rec = new RecordingSink();
  const log = {
    warn: () => {
      throw new Error("logger broke");
    },
  } as unknown as typeof silentLogger;
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => unhandled.push(r);
  process.on("unhandledRejection", onUnhandled);
  try {
    background(Promise.reject(new Error("x")), "w", log, rec);
    await new Promise((r) => setTimeout(r, 10));
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});
