// Regressions for the STT defects of issue 14: each of these failed before its fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { FakeTranscriber, timelineResponder, steadySpeech } from "../../src/stt/fake.js";
import { TranscriptionError } from "../../src/stt/errors.js";
import { judgeSegment, isHallucination } from "../../src/stt/policy.js";
import { DEFAULT_GUARDS } from "../../src/stt/stream-policy.js";
import { assessQuality } from "../../src/analysis/quality.js";
import { createSttService } from "../../src/stt/service.js";
import { SttStream } from "../../src/stt/stream.js";
import { DEFAULT_POLICY } from "../../src/stt/stream-policy.js";
import { ConfigSchema } from "../../src/config/index.js";
import type { TranscribeRequest, TranscribeResult, Transcriber } from "../../src/stt/types.js";
import { collect, concat, feed, makeStream, silence, voiced } from "./_util.js";

const silentLogger = { info() {}, warn() {}, error() {}, debug() {} } as never;

/** An engine whose decodes never finish on their own: they settle only when their signal aborts. */
function hanging(maxConcurrency = 1) {
  const requests: TranscribeRequest[] = [];
  const t: Transcriber = {
    name: "hanging",
    capabilities: { local: true, trimmedEncoder: true, maxConcurrency },
    transcribe: (req) => {
      requests.push(req);
      return new Promise<TranscribeResult>((_, reject) => {
        req.signal?.addEventListener("abort", () => reject(req.signal!.reason), { once: true });
      });
    },
    close: async () => undefined,
  };
  return { t, requests };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

test("closing a stream aborts its in-flight decode and frees the slot", async () => {
  const h = hanging();
  const { stream, scheduler } = makeStream(h.t, {}, 1);
  stream.pushAudio(concat(silence(0.5), voiced(1.5)));
  while (h.requests.length === 0) await tick();
  assert.equal(scheduler.running, 1);
  const signal = h.requests[0]!.signal;
  assert.ok(signal, "the engine is given an abort signal");
  assert.equal(signal.aborted, false);
  stream.close();
  assert.equal(signal.aborted, true, "close() aborts the decode");
  while (scheduler.running > 0) await tick(); // would hang before the fix: the decode never settled
  assert.equal(scheduler.running, 0);
});

test("closing a stream withdraws its queued decode: the slot goes to the next stream", async () => {
  const h = hanging();
  const a = makeStream(h.t, {}, 1);
  const scheduler = a.scheduler;
  const b = new SttStream({ sessionId: "b", language: "en", policy: DEFAULT_POLICY, scheduler });
  a.stream.pushAudio(concat(silence(0.5), voiced(1.5)));
  b.pushAudio(concat(silence(0.5), voiced(1.5)));
  while (scheduler.queued === 0) await tick();
  assert.equal(scheduler.queued, 1, "b waits for the one slot");
  b.close();
  assert.equal(scheduler.queued, 0, "b's request is withdrawn at once");
  a.stream.close();
  while (scheduler.running > 0) await tick();
  assert.equal(h.requests.length, 1, "b never decoded");
});

test("a non-retryable TranscriptionError is fatal at once; a retryable one is not", async () => {
  for (const retryable of [false, true]) {
    const fake = new FakeTranscriber({
      respond: timelineResponder(steadySpeech(0.5, 3, 0.4)),
      failOn: [0],
      failWith: () => new TranscriptionError("server refused the request", { retryable }),
    });
    const { stream } = makeStream(fake);
    const c = collect(stream);
    await feed(stream, concat(silence(0.5), voiced(2.5), silence(1.5)));
    stream.end();
    const errors = (await c.finished).filter((e) => e.type === "error");
    assert.deepEqual(
      errors.map((e) => e.type === "error" && e.fatal),
      [!retryable],
      `retryable=${retryable}`,
    );
  }
});

test("judgeSegment applies the configured no-speech log-probability threshold", () => {
  const seg = { text: "real words", start: 0, end: 1, words: [], avgLogprob: -0.8, noSpeechProb: 0.9 };
  assert.equal(judgeSegment(seg, DEFAULT_GUARDS), "ok", "at the default -1, -0.8 is confident enough");
  assert.equal(judgeSegment(seg, { ...DEFAULT_GUARDS, noSpeechLogprobThreshold: -0.5 }), "no_speech");
  const policy = ConfigSchema.parse({ stt: { noSpeechLogprobThreshold: -0.5 } });
  assert.equal(policy.stt.noSpeechLogprobThreshold, -0.5);
});

test("Whisper's 'Subtitles by the Amara.org community' is a hallucination for the stream and the quality gate", () => {
  const text = "Subtitles by the Amara.org community";
  assert.ok(isHallucination(text));
  const words = text.split(" ").map((w, i) => ({ word: w, start: i * 0.3, end: i * 0.3 + 0.2, confidence: 0.9 }));
  const q = assessQuality(words, { confidenceThreshold: 0.5, minWords: 3 });
  assert.equal(q.quality, "unusable");
  assert.match(q.detail.reasons.join(" "), /silence or background noise/);
});

test("stt.remoteTimeoutMs bounds a remote request: a server that never answers fails the decode, retryable", async () => {
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer(() => undefined); // accepts and never answers
  server.on("connection", (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const cfg = ConfigSchema.parse({ stt: { engine: "remote", url, remoteTimeoutMs: 200, maxStreams: 1 } });
    const svc = await createSttService(cfg, silentLogger);
    const t = (svc.scheduler as { transcriber: Transcriber }).transcriber;
    await assert.rejects(t.transcribe({ audio: voiced(1), language: "en" }), (e: unknown) => e instanceof TranscriptionError && e.retryable && /timed out after 200 ms/.test(e.message));
    await svc.close();
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
