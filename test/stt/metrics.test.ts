// The speech path emits typed metric events (src/metrics/events.ts) instead of bumping counters:
// one stt.decode per engine call (with its audio and queue wait), skipped partials under load,
// loop cuts and guard drops; and they reach the prom-client series.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metrics, RecordingSink, fanOut } from "../../src/metrics/index.js";
import { FakeTranscriber, timelineResponder, steadySpeech } from "../../src/stt/fake.js";
import { createSttService } from "../../src/stt/service.js";
import { ConfigSchema } from "../../src/config/index.js";
import { silentLogger } from "../../src/util/log.js";
import { collect, concat, feed, silence, voiced } from "./_util.js";

test("decodes, skipped partials, loop cuts and guard drops are events; the adapter exports them", async () => {
  let call = 0;
  const words = steadySpeech(0.5, 6.5, 0.4);
  const base = timelineResponder(words);
  // Call 1 is a loop, call 2 a silence phrase; the rest hear the transcript.
  const fake = new FakeTranscriber({
    delayMs: 80,
    maxConcurrency: 1,
    respond: (c) => {
      call++;
      if (call === 1) {
        const ws = Array.from({ length: 8 }, (_, i) => ({ word: i % 2 ? "said" : "I", start: i * 0.1, end: i * 0.1 + 0.08, probability: 0.8 }));
        return [{ text: ws.map((w) => w.word).join(" "), start: 0, end: 1, words: ws, avgLogprob: -0.2, noSpeechProb: 0 }];
      }
      if (call === 2) return [{ text: "Thanks for watching!", start: 0, end: 1, words: [], avgLogprob: -0.2, noSpeechProb: 0 }];
      return base(c);
    },
  });
  const rec = new RecordingSink();
  const prom = new Metrics({ defaultMetrics: false });
  const svc = await createSttService(ConfigSchema.parse({ stt: { engine: "fake", maxStreams: 4 } }), silentLogger, { transcriber: fake, metrics: fanOut(rec, prom) });
  const streams = ["a", "b", "c"].map((id) => svc.openStream({ sessionId: id, language: "en" }));
  const cs = streams.map((s) => collect(s));
  const audio = concat(silence(0.5), voiced(6), silence(1.5));
  // Three streams at 8x real time on one slot, 80 ms a decode: 240 ms a round against an update
  // due every 125 ms, so decodes fall behind and partials merge.
  for (let i = 0; i < audio.length; i += 4000) {
    for (const s of streams) s.pushAudio(audio.slice(i, i + 4000));
    await new Promise((r) => setTimeout(r, 30));
  }
  for (const s of streams) s.end();
  await Promise.all(cs.map((c) => c.finished));
  const decodes = rec.of("stt.decode");
  assert.equal(decodes.length, fake.calls.length, "one event per engine call");
  assert.equal(decodes.length, svc.stats().decodes);
  for (const d of decodes) assert.ok(d.audioSeconds > 0 && d.queueWaitMs >= 0 && d.decodeMs >= 0);
  assert.ok(decodes.some((d) => d.final) && decodes.some((d) => !d.final));
  assert.ok(decodes.some((d) => d.queueWaitMs > 0), "some decode waited for the one slot");
  const skipped = rec.of("stt.partials_skipped").reduce((n, e) => n + e.count, 0);
  assert.ok(skipped > 0);
  assert.equal(svc.stats().skippedPartials, skipped, "stats count the same events");
  assert.equal(rec.of("stt.loop_cut").length, 1);
  assert.deepEqual(rec.of("stt.guard_drop").map((e) => e.verdict), ["hallucination"]);
  const text = await prom.registry.metrics();
  assert.match(text, new RegExp(`parlance_stt_decode_seconds_count ${decodes.length}\\b`));
  assert.match(text, new RegExp(`parlance_stt_queue_wait_seconds_count ${decodes.length}\\b`));
  assert.match(text, new RegExp(`parlance_stt_skipped_partials_total ${skipped}\\b`));
  await svc.close();
});

test("a failed decode is a decode_failed event, with whether a retry may help", async () => {
  const rec = new RecordingSink();
  const fake = new FakeTranscriber({ respond: timelineResponder(steadySpeech(0.5, 3, 0.4)), failOn: [0] });
  const svc = await createSttService(ConfigSchema.parse({ stt: { engine: "fake", maxStreams: 1 } }), silentLogger, { transcriber: fake, metrics: rec });
  const s = svc.openStream({ sessionId: "f", language: "en" });
  const c = collect(s);
  await feed(s as never, concat(silence(0.5), voiced(2.5), silence(1.5)));
  s.end();
  await c.finished;
  assert.deepEqual(rec.of("stt.decode_failed"), [{ type: "stt.decode_failed", retryable: true }]);
  await svc.close();
});
