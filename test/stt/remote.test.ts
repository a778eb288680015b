// The remote transcriber against a real OpenAI-compatible HTTP server on loopback, and the
// service wiring (admission, scheduler) with the fake.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { RemoteTranscriber, transcriptionsUrl } from "../../src/stt/remote.js";
import { TranscriptionError } from "../../src/stt/errors.js";
import { createSttService } from "../../src/stt/service.js";
import { FakeTranscriber, timelineResponder, steadySpeech } from "../../src/stt/fake.js";
import { ConfigSchema } from "../../src/config/index.js";
import { silentLogger } from "../../src/util/log.js";
import { parseWav } from "../../src/audio/wav.js";
import { collect, concat, feed, finalWords, silence, voiced } from "./_util.js";
import type { SttStream } from "../../src/stt/stream.js";

const seen: { fields: Record<string, string[]>; wavSeconds: number; auth?: string }[] = [];
let mode: "ok" | "error" = "ok";

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const server = createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/v1/audio/transcriptions") return void res.writeHead(404).end();
  // Parse the multipart body with the platform's own parser.
  const body = await readBody(req);
  const form = await new Response(new Uint8Array(body), { headers: { "content-type": req.headers["content-type"]! } }).formData();
  const fields: Record<string, string[]> = {};
  let wavSeconds = 0;
  for (const [k, v] of form.entries()) {
    if (typeof v === "string") (fields[k] ??= []).push(v);
    else {
      const wav = parseWav(Buffer.from(await v.arrayBuffer()));
      wavSeconds = wav.samples.length / wav.sampleRate;
    }
  }
  seen.push({ fields, wavSeconds, auth: req.headers.authorization });
  if (mode === "error") return void res.writeHead(503, { "content-type": "text/plain" }).end("overloaded");
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      text: "hello world",
      language: "english",
      segments: [{ id: 0, text: " hello world", start: 0, end: 1.2, avg_logprob: -0.3, no_speech_prob: 0.02 }],
      words: [
        { word: " hello", start: 0.1, end: 0.5, probability: 0.95 },
        { word: " world", start: 0.6, end: 9.0 }, // past the audio: clamped
      ],
    }),
  );
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
after(() => new Promise<void>((r) => server.close(() => r())));

test("the remote transcriber uploads a 16 kHz WAV with verbose_json and word timestamps", async () => {
  const t = new RemoteTranscriber({ url, model: "whisper-1", apiKey: "k123", timeoutMs: 10000, maxConcurrency: 2 });
  const r = await t.transcribe({ audio: voiced(2), language: "en-GB", prompt: "previous words" });
  const req = seen[seen.length - 1]!;
  assert.equal(req.wavSeconds, 2);
  assert.deepEqual(req.fields.response_format, ["verbose_json"]);
  assert.deepEqual(req.fields["timestamp_granularities[]"], ["word", "segment"]);
  assert.deepEqual(req.fields.language, ["en"]);
  assert.deepEqual(req.fields.prompt, ["previous words"]);
  assert.equal(req.auth, "Bearer k123");
  assert.equal(r.segments.length, 1);
  const s = r.segments[0]!;
  assert.equal(s.text, "hello world");
  assert.equal(s.avgLogprob, -0.3);
  assert.equal(s.noSpeechProb, 0.02);
  assert.deepEqual(s.words.map((w) => [w.word, w.start, w.end, w.probability]), [["hello", 0.1, 0.5, 0.95], ["world", 0.6, 2, 1]]);
  await t.close();
});

test("server errors become retryable TranscriptionErrors", async () => {
  mode = "error";
  try {
    const t = new RemoteTranscriber({ url: `${url}/v1`, model: "m", timeoutMs: 10000, maxConcurrency: 2 });
    await assert.rejects(t.transcribe({ audio: voiced(1), language: "en" }), (e: unknown) => e instanceof TranscriptionError && e.retryable && /503/.test(e.message));
  } finally {
    mode = "ok";
  }
  assert.equal(transcriptionsUrl("http://h:1/"), "http://h:1/v1/audio/transcriptions");
  assert.equal(transcriptionsUrl("http://h:1/v1"), "http://h:1/v1/audio/transcriptions");
});

test("createSttService with engine=remote streams through the server", async () => {
  const cfg = ConfigSchema.parse({ stt: { engine: "remote", url, maxStreams: 2 } });
  const svc = await createSttService(cfg, silentLogger);
  assert.equal(svc.engineName, "remote:whisper-1");
  const s = svc.openStream({ sessionId: "r", language: "en" }) as SttStream;
  const c = collect(s);
  await feed(s, concat(silence(0.5), voiced(2.5), silence(1)));
  s.end();
  const ev = await c.finished;
  assert.ok(finalWords(ev).includes("hello"));
  await svc.close();
});

test("admission: capacity is enforced and frees up when a stream ends", async () => {
  const cfg = ConfigSchema.parse({ stt: { engine: "fake", maxStreams: 2 } });
  const svc = await createSttService(cfg, silentLogger, { transcriber: new FakeTranscriber() });
  assert.equal(svc.admit().ok, true);
  const a = svc.openStream({ sessionId: "a", language: "en" });
  svc.openStream({ sessionId: "b", language: "en" });
  const third = svc.admit();
  assert.equal(third.ok, false);
  assert.ok(!third.ok && third.retryAfterMs > 0);
  a.close();
  assert.equal(svc.admit().ok, true);
  assert.equal(svc.stats().activeStreams, 1);
  await svc.close();
});

test("thread demand for the LLM's core policy: one thread per open stream, up to the budget", async () => {
  const cfg = ConfigSchema.parse({ stt: { engine: "fake", maxStreams: 8, threads: 2 } });
  const svc = await createSttService(cfg, silentLogger, { transcriber: new FakeTranscriber() });
  const seen: number[] = [];
  svc.onThreadDemand((n) => seen.push(n));
  const a = svc.openStream({ sessionId: "a", language: "en" });
  const b = svc.openStream({ sessionId: "b", language: "en" });
  const c = svc.openStream({ sessionId: "c", language: "en" });
  a.close();
  b.close();
  c.close();
  assert.deepEqual(seen, [0, 1, 2, 1, 0], "told at once, then only on changes, never above the budget");
  await svc.close();
});

test("fair scheduling: with one slot and a slow engine every stream keeps getting decodes; partials are skipped, committed words are not", async () => {
  const words = steadySpeech(0.5, 6.5, 0.4);
  // Each decode takes 150 ms of a single slot; 3 streams at 4x real time overload it.
  const fake = new FakeTranscriber({ respond: timelineResponder(words), delayMs: 150, maxConcurrency: 1 });
  const cfg = ConfigSchema.parse({ stt: { engine: "fake", maxStreams: 8, threads: 1 } });
  const svc = await createSttService(cfg, silentLogger, { transcriber: fake });
  const streams = ["x", "y", "z"].map((id) => svc.openStream({ sessionId: id, language: "en" }) as SttStream);
  const cs = streams.map((s) => collect(s));
  const audio = concat(silence(0.5), voiced(6), silence(1.2));
  for (let i = 0; i < audio.length; i += 4000) {
    for (const s of streams) s.pushAudio(audio.slice(i, i + 4000));
    await new Promise((r) => setTimeout(r, 60));
  }
  for (const s of streams) s.end();
  const all = await Promise.all(cs.map((c) => c.finished));
  for (const ev of all) assert.deepEqual(finalWords(ev), words.map((w) => w.word), "every committed word arrives");
  assert.ok(svc.stats().skippedPartials > 0, "partials merged under load");
  assert.equal(svc.stats().activeStreams, 0);
  await svc.close();
});
