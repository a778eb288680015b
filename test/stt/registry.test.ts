// The engine seam: an engine added through the registry alone (no other code touched) is picked
// by config.stt.engine and streams; a streaming-native engine serves its own SpeechStream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { registerSttEngine, sttEngineNames, UnknownEngineError, type StreamingEngine } from "../../src/stt/engines.js";
import { createSttService } from "../../src/stt/service.js";
import { AsyncQueue } from "../../src/util/async-queue.js";
import { ConfigSchema } from "../../src/config/index.js";
import type { SpeechEvent, SpeechStream, TranscribeRequest, TranscribeResult, Transcriber } from "../../src/stt/types.js";
import { collect, concat, feed, finalWords, silence, voiced } from "./_util.js";

const silentLogger = { info() {}, warn() {}, error() {}, debug() {} } as never;

/** Hears "echo" once per second of window. */
class EchoTranscriber implements Transcriber {
  readonly name = "echo";
  readonly capabilities = { local: false, trimmedEncoder: true, maxConcurrency: 1, defaultStreams: 3 };
  calls = 0;
  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    this.calls++;
    const sec = req.audio.length / 16000;
    const words = Array.from({ length: Math.floor(sec) }, (_, i) => ({ word: `echo${Math.round((req.offsetSec ?? 0) + i)}`, start: i, end: i + 0.5, probability: 0.9 }));
    return { segments: words.length ? [{ text: words.map((w) => w.word).join(" "), start: 0, end: sec, words, avgLogprob: -0.1, noSpeechProb: 0 }] : [], language: req.language, decodeMs: 1 };
  }
  async close(): Promise<void> {}
}

test("a throwaway engine registered through the registry alone is chosen by config and streams", async () => {
  const echo = new EchoTranscriber();
  let configSeen: unknown = null;
  registerSttEngine("throwaway-echo", {
    create: async (config) => {
      configSeen = config.stt.engine;
      return { kind: "windowed", transcriber: echo };
    },
  });
  assert.ok(sttEngineNames().includes("throwaway-echo"));
  const svc = await createSttService(ConfigSchema.parse({ stt: { engine: "throwaway-echo" } }), silentLogger);
  assert.equal(configSeen, "throwaway-echo");
  assert.equal(svc.engineName, "echo");
  assert.equal(svc.capacityStreams, 3, "the engine's defaultStreams, not a measurement");
  const s = svc.openStream({ sessionId: "e", language: "en" });
  const c = collect(s);
  await feed(s as never, concat(silence(0.5), voiced(3), silence(1.5)));
  s.end();
  const ev = await c.finished;
  assert.ok(echo.calls > 0);
  assert.ok(finalWords(ev).length > 0, "committed words came from the registered engine");
  assert.ok(finalWords(ev).every((w) => w.startsWith("echo")));
  assert.equal(ev.at(-1)!.type, "ended");
  await svc.close();
});

test("an unknown engine name is a typed error naming the registered ones", async () => {
  await assert.rejects(createSttService(ConfigSchema.parse({ stt: { engine: "nope" } }), silentLogger), (e: unknown) => e instanceof UnknownEngineError && /embedded, remote, fake/.test(e.message));
});

test("a streaming-native engine implements the speech stream itself", async () => {
  let opened = 0;
  let finished = 0;
  const engine: StreamingEngine = {
    name: "native",
    defaultStreams: 2,
    openStream: ({ onFinish }) => {
      opened++;
      const q = new AsyncQueue<SpeechEvent>({ capacity: 16 });
      let audioMs = 0;
      const stop = () => {
        q.close();
        finished++;
        onFinish();
      };
      const stream: SpeechStream = {
        pushAudio: (x) => void (audioMs += (x.length / 16000) * 1000),
        flush: () => undefined,
        end: () => {
          q.push({ type: "final", segmentId: 0, text: "native words", start: 0, end: 1, words: [], reason: "end", lagMs: 0 });
          q.push({ type: "ended", text: "native words", segments: 1, audioMs, lagMs: 0 });
          stop();
        },
        close: () => {
          q.cancel();
          stop();
        },
        get lagMs() {
          return 0;
        },
        get audioMs() {
          return audioMs;
        },
        [Symbol.asyncIterator]: () => q[Symbol.asyncIterator](),
      };
      return stream;
    },
    close: async () => undefined,
  };
  registerSttEngine("throwaway-native", { create: async () => ({ kind: "streaming", engine }) });
  const svc = await createSttService(ConfigSchema.parse({ stt: { engine: "throwaway-native" } }), silentLogger);
  assert.equal(svc.engineName, "native");
  assert.equal(svc.capacityStreams, 2);
  const s = svc.openStream({ sessionId: "n", language: "en" });
  assert.equal(svc.stats().activeStreams, 1);
  const c = collect(s);
  s.pushAudio(voiced(1));
  s.end();
  const ev = await c.finished;
  assert.deepEqual(ev.map((e) => e.type), ["final", "ended"]);
  assert.equal(svc.stats().activeStreams, 0, "onFinish frees the stream's admission slot");
  assert.equal(opened, 1);
  assert.equal(finished, 1);
  await svc.close();
});
