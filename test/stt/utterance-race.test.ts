// Regression (found with issue 15's real-model tests): speech that arrives while an
// utterance_end final is decoding (a client sending faster than the engine decodes, or a loaded
// machine) was dropped with the trailing silence, so only the first utterance was ever committed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeTranscriber, timelineResponder, type ScriptWord } from "../../src/stt/fake.js";
import { collect, concat, finalWords, makeStream, silence, voiced } from "./_util.js";

test("speech arriving during an utterance_end decode is committed, not dropped", async () => {
  const words: ScriptWord[] = [
    ...["and", "so", "my", "fellow", "americans"].map((w, i) => ({ word: w, start: 0.2 + i * 0.3, end: 0.4 + i * 0.3 })),
    ...["ask", "not", "what", "your", "country", "can", "do"].map((w, i) => ({ word: w, start: 3.4 + i * 0.35, end: 3.6 + i * 0.35 })),
  ];
  // The decode takes long enough that all audio (and `end`) arrives while the first final runs.
  const fake = new FakeTranscriber({ respond: timelineResponder(words), delayMs: 80 });
  const { stream } = makeStream(fake, { updateMs: 60_000 });
  const c = collect(stream);
  const audio = concat(voiced(2), silence(1.2), voiced(3.2, 2), silence(0.3));
  for (let i = 0; i < audio.length; i += 4000) stream.pushAudio(audio.slice(i, i + 4000));
  stream.end();
  const ev = await c.finished;
  const types = ev.map((e) => e.type);
  assert.ok(types.includes("utterance_end"), types.join(","));
  assert.deepEqual(finalWords(ev), words.map((w) => w.word));
  const ended = ev.at(-1)!;
  assert.equal(ended.type, "ended");
});
