// Regression (found with issue 15's real-model tests): speech that arrives while an
// utterance_end final is decoding (a client sending faster than the engine decodes, or a loaded
// machine) was dropped with the trailing silence, so only the first utterance was ever committed.
// Decodes are held and released by the test, so the interleaving is exact, not timed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeTranscriber, timelineResponder, type ScriptWord } from "../../src/stt/fake.js";
import type { TranscribeRequest, TranscribeResult, Transcriber } from "../../src/stt/types.js";
import { collect, concat, finalWords, makeStream, silence, voiced } from "./_util.js";

/** A transcriber whose decodes wait until the test releases them. */
function gated(inner: FakeTranscriber) {
  const waiting: { req: TranscribeRequest; go: () => void }[] = [];
  let arrived: (() => void) | null = null;
  const t: Transcriber = {
    name: inner.name,
    capabilities: inner.capabilities,
    transcribe: (req) =>
      new Promise<TranscribeResult>((resolve, reject) => {
        waiting.push({ req, go: () => inner.transcribe(req).then(resolve, reject) });
        arrived?.();
      }),
    close: () => inner.close(),
  };
  const next = async () => {
    while (waiting.length === 0) await new Promise<void>((r) => (arrived = r));
    return waiting.shift()!;
  };
  return { t, next };
}

test("speech arriving during an utterance_end decode is committed, not dropped", async () => {
  const words: ScriptWord[] = [
    ...["and", "so", "my", "fellow", "americans"].map((w, i) => ({ word: w, start: 0.2 + i * 0.3, end: 0.4 + i * 0.3 })),
    ...["ask", "not", "what", "your", "country", "can", "do"].map((w, i) => ({ word: w, start: 3.4 + i * 0.35, end: 3.6 + i * 0.35 })),
  ];
  const g = gated(new FakeTranscriber({ respond: timelineResponder(words) }));
  const { stream } = makeStream(g.t, { updateMs: 60_000 });
  const c = collect(stream);
  const first = concat(voiced(2), silence(1.2));
  const rest = concat(voiced(3.2, 2), silence(0.3));
  const push = (a: Float32Array) => {
    for (let i = 0; i < a.length; i += 4000) stream.pushAudio(a.slice(i, i + 4000));
  };
  push(first);
  // Let every decode the first utterance asks for run, up to the one for its utterance_end final,
  // and hold that one while the next utterance and `end` arrive.
  let job = await g.next();
  // (the utterance_end final is the one decode that covers the whole first utterance; updates are spaced past it)
  while (job.req.audio.length < first.length - 16000) {
    job.go();
    job = await g.next();
  }
  push(rest);
  stream.end();
  job.go();
  for (;;) {
    const done = await Promise.race([c.finished.then(() => true), g.next().then((j) => (j.go(), false))]);
    if (done) break;
  }
  const ev = await c.finished;
  assert.ok(ev.some((e) => e.type === "utterance_end"), ev.map((e) => e.type).join(","));
  assert.deepEqual(finalWords(ev), words.map((w) => w.word));
  assert.equal(ev.at(-1)!.type, "ended");
});
