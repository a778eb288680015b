// Streaming policy with the scripted fake transcriber: what gets committed, when, and how the
// window stays bounded. The fake "hears" a transcript laid out on the stream timeline.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeTranscriber, timelineResponder, steadySpeech, type ScriptWord } from "../../src/stt/fake.js";
import { agreedPrefix, cutRepetition, dedupeSeam, isHallucination, VERBATIM_PROMPTS } from "../../src/stt/policy.js";
import { DEFAULT_GUARDS } from "../../src/stt/stream-policy.js";
import { collect, concat, feed, finalWords, finals, makeStream, silence, voiced } from "./_util.js";

const sw = (word: string, start: number, end = start + 0.3) => ({ word, start, end, probability: 0.9 });

test("agreedPrefix, dedupeSeam and cutRepetition on plain word lists", () => {
  assert.equal(agreedPrefix([sw("Hello,", 0), sw("my", 1), sw("friend", 2)], [sw("hello", 0), sw("my", 1), sw("fiend", 2)]), 2);
  const committed = [sw("ask", 1), sw("not", 1.4)];
  assert.deepEqual(dedupeSeam(committed, [sw("not", 1.5), sw("what", 2)], 1.7).map((w) => w.word), ["what"]);
  assert.deepEqual(dedupeSeam(committed, [sw("not", 9), sw("now", 9.5)], 1.7).map((w) => w.word), ["not", "now"], "far from the seam: a new 'not'");
  const loop = cutRepetition(["I", "said", "I", "said", "I", "said", "I", "said"].map((w, i) => sw(w, i)));
  assert.ok(loop.cut);
  assert.deepEqual(loop.words.map((w) => w.word), ["I", "said"]);
  assert.equal(cutRepetition(["no", "no", "no"].map((w, i) => sw(w, i))).cut, false, "three 'no's can be real");
  assert.ok(isHallucination(" Thanks for watching!") && isHallucination("[BLANK_AUDIO]") && !isHallucination("thanks for the help"));
});

test("LocalAgreement-2 commits words two decodes agree on, in order, exactly once", async () => {
  const words = steadySpeech(0.5, 6.5, 0.4);
  const fake = new FakeTranscriber({ respond: timelineResponder(words) });
  const { stream } = makeStream(fake, { agreement: 2, utteranceEndMs: 800 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(6), silence(1.5)));
  stream.end();
  const ev = await c.finished;
  const got = finalWords(ev);
  assert.deepEqual(got, words.map((w) => w.word), "every word committed once, in order");
  assert.ok(finals(ev).some((f) => f.reason === "agreement"), "agreement commits while speaking");
  assert.ok(ev.some((e) => e.type === "speech_started"));
  const ue = ev.find((e) => e.type === "utterance_end");
  assert.ok(ue && ue.type === "utterance_end" && ue.at > 6 && ue.at < 7);
  const partials = ev.filter((e) => e.type === "partial");
  assert.ok(partials.length >= 4, `partials ${partials.length}`);
  const ended = ev[ev.length - 1]!;
  assert.equal(ended.type, "ended");
  assert.equal(ended.type === "ended" && ended.text, words.map((w) => w.word).join(" "));
  // Word times are stream times (the fake saw window offsets, the events carry absolute times).
  const f0 = finals(ev)[0]!;
  assert.ok(Math.abs(f0.words[0]!.start - 0.5) < 0.01);
  // Each decode covers the uncommitted window only: far less than the 6 s utterance.
  assert.ok(Math.max(...fake.calls.map((c) => c.duration)) < 3.5, `max window ${Math.max(...fake.calls.map((c) => c.duration))}`);
});

test("seam dedupe: a word heard again at the start of the next window is not committed twice", async () => {
  const words = steadySpeech(0.5, 5.3, 0.4);
  const base = timelineResponder(words);
  // This engine also returns the last word before the window (as Whisper does on a cut word).
  const fake = new FakeTranscriber({
    respond: (call) => {
      const segs = base(call);
      const before = words.filter((w) => w.end <= call.offset + 1e-9).pop();
      if (!before || segs.length === 0) return segs;
      segs[0]!.words.unshift({ word: before.word, start: 0, end: 0.1, probability: 0.9 });
      return segs;
    },
  });
  const { stream } = makeStream(fake);
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(5), silence(1.2)));
  stream.end();
  const got = finalWords(await c.finished);
  assert.deepEqual(got, words.map((w) => w.word));
});

test("the window stays bounded when hypotheses never agree (commit at window limit)", async () => {
  let n = 0;
  // Every decode hears different words: LocalAgreement never fires.
  const fake = new FakeTranscriber({
    respond: (call) => {
      n++;
      const ws = steadySpeech(0, call.duration, 0.5, `c${n}_`);
      return [{ text: ws.map((w) => w.word).join(" "), start: 0, end: call.duration, words: ws.map((w) => ({ ...w, probability: 0.8 })), avgLogprob: -0.3, noSpeechProb: 0 }];
    },
  });
  const { stream } = makeStream(fake, { maxWindowMs: 8000 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(40)));
  stream.end();
  const ev = await c.finished;
  const maxDur = Math.max(...fake.calls.map((c) => c.duration));
  assert.ok(maxDur <= 8.0 + 1e-6, `longest decoded window ${maxDur}s`);
  assert.ok(finals(ev).some((f) => f.reason === "window"), "forced commits at the window limit");
  // Later windows cost what early ones did: durations do not grow with the utterance.
  const late = fake.calls.slice(-10).map((c) => c.duration);
  assert.ok(Math.max(...late) <= 8.0 + 1e-6);
  // Committed times are monotonic: nothing committed twice, nothing out of order.
  const starts = finals(ev).flatMap((f) => f.words.map((w) => w.start));
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! >= starts[i - 1]! - 1e-9, `word ${i} goes back in time`);
});

test("a repetition loop is cut to its first occurrence", async () => {
  const fake = new FakeTranscriber({
    respond: (call) => {
      const ws = Array.from({ length: 12 }, (_, i) => ({ word: i % 2 ? "said" : "I", start: (i * call.duration) / 12, end: ((i + 0.9) * call.duration) / 12, probability: 0.7 }));
      return [{ text: ws.map((w) => w.word).join(" "), start: 0, end: call.duration, words: ws, avgLogprob: -0.4, noSpeechProb: 0 }];
    },
  });
  const { stream } = makeStream(fake);
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(3), silence(1)));
  stream.end();
  const ev = await c.finished;
  for (const f of finals(ev)) assert.ok(!/said I said I said/i.test(f.text), f.text);
  assert.ok(stream.counters.loopsCut > 0);
});

test("guards: hallucinated phrases and low log-probability segments commit nothing", async () => {
  for (const seg of [
    { text: "Thanks for watching!", avgLogprob: -0.2 },
    { text: "real words here", avgLogprob: -2.5 },
  ]) {
    const fake = new FakeTranscriber({
      respond: (call) => [{ ...seg, start: 0, end: call.duration, noSpeechProb: 0.1, words: seg.text.split(" ").map((w, i) => ({ word: w, start: i * 0.3, end: i * 0.3 + 0.2, probability: 0.5 })) }],
    });
    // The log-probability guard is off by default (it dropped real learner speech); on, it drops.
    const { stream } = makeStream(fake, { guards: { ...DEFAULT_GUARDS, logprobThreshold: -1 } });
    const c = collect(stream);
    await feed(stream, concat(silence(0.5), voiced(3), silence(1)));
    stream.end();
    const ev = await c.finished;
    assert.deepEqual(finalWords(ev), [], seg.text);
    assert.ok(fake.calls.length > 0, "it did decode");
  }
});

test("silence is never decoded", async () => {
  const fake = new FakeTranscriber({ respond: () => [{ text: "you", start: 0, end: 1, words: [], avgLogprob: -0.1, noSpeechProb: 0.9 }] });
  const { stream } = makeStream(fake);
  const c = collect(stream);
  await feed(stream, silence(20));
  stream.end();
  const ev = await c.finished;
  assert.equal(fake.calls.length, 0);
  assert.deepEqual(ev.map((e) => e.type), ["ended"]);
  assert.equal(stream.lagMs, 0);
});

test("flush commits everything pending and streaming goes on; end commits the rest", async () => {
  const words: ScriptWord[] = [...steadySpeech(0.5, 2.9, 0.4, "a"), ...steadySpeech(3.0, 5.4, 0.4, "b")];
  const fake = new FakeTranscriber({ respond: timelineResponder(words) });
  const { stream } = makeStream(fake, { utteranceEndMs: 5000 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(2.5)));
  stream.flush();
  await feed(stream, voiced(2.5));
  stream.end(); // no pause before end: the last words are committed by end itself
  const ev = await c.finished;
  const fl = finals(ev).filter((f) => f.reason === "flush");
  assert.ok(fl.length >= 1, "a flush final");
  assert.ok(finals(ev).some((f) => f.reason === "end"), "an end final");
  assert.deepEqual(finalWords(ev), words.map((w) => w.word));
  const flushIdx = ev.indexOf(fl[0]!);
  assert.ok(ev.slice(flushIdx + 1).some((e) => e.type === "partial"), "partials continue after flush");
  assert.equal(ev[ev.length - 1]!.type, "ended");
  assert.equal(ev.filter((e) => e.type === "ended").length, 1);
});

test("the prompt carries a bounded tail of committed text", async () => {
  const words = steadySpeech(0.5, 12.5, 0.4, "word");
  const fake = new FakeTranscriber({ respond: timelineResponder(words) });
  const { stream } = makeStream(fake, { promptTailChars: 40, agreement: 2 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(12), silence(1)));
  stream.end();
  await c.finished;
  const prompts = fake.calls.map((c) => c.prompt).filter((p): p is string => !!p);
  assert.ok(prompts.length > 3);
  for (const p of prompts) assert.ok(p.length <= 40, p);
  assert.match(prompts[prompts.length - 1]!, /word2\d\b/);
});

test("every prompt is as long as the budget: the verbatim preamble first, then committed text replaces it", async () => {
  const words = steadySpeech(0.5, 12.5, 0.4, "word");
  const fake = new FakeTranscriber({ respond: timelineResponder(words) });
  const { stream } = makeStream(fake, { promptTailChars: 120, agreement: 2, verbatimPrompt: true });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(12), silence(1)));
  stream.end();
  await c.finished;
  const prompts = fake.calls.map((c) => c.prompt);
  assert.ok(prompts.length > 3);
  for (const p of prompts) assert.ok(p && p.length > 100 && p.length <= 120, `${p?.length}: ${p}`);
  assert.ok(VERBATIM_PROMPTS.en!.endsWith(prompts[0]!), "the first decode is prompted with the preamble's tail");
  assert.match(prompts[0]!, /\b(um|uh|er)\b/i, "the preamble shows fillers, so Whisper keeps them");
  assert.match(prompts.at(-1)!, /word2\d$/, "committed text takes over at the end");

  const plain = new FakeTranscriber({ respond: timelineResponder(words) });
  const off = makeStream(plain, { promptTailChars: 120, agreement: 2, verbatimPrompt: false });
  const c2 = collect(off.stream);
  await feed(off.stream, concat(silence(0.5), voiced(12), silence(1)));
  off.stream.end();
  await c2.finished;
  assert.equal(plain.calls[0]!.prompt, undefined, "verbatimPrompt off: no prompt before anything is committed");
});

test("a failed decode is a non-fatal error event and the stream carries on", async () => {
  const words = steadySpeech(0.5, 4.5, 0.4);
  const fake = new FakeTranscriber({ respond: timelineResponder(words), failOn: [1] });
  const { stream } = makeStream(fake);
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(4), silence(1.2)));
  stream.end();
  const ev = await c.finished;
  const err = ev.find((e) => e.type === "error");
  assert.ok(err && err.type === "error" && err.fatal === false);
  assert.deepEqual(finalWords(ev), words.map((w) => w.word));
});

test("failures in a row become fatal at maxConsecutiveFailures; a success in between resets the count", async () => {
  const words = steadySpeech(0.5, 10.5, 0.4);
  // Decodes 1-3 fail, 4 succeeds, 5-8 fail: with a limit of 4 only the fourth failure in a row is fatal.
  const fake = new FakeTranscriber({ respond: timelineResponder(words), failOn: [1, 2, 3, 5, 6, 7, 8] });
  const { stream } = makeStream(fake, { maxConsecutiveFailures: 4 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(10), silence(0.2)));
  stream.end();
  const errors = (await c.finished).filter((e) => e.type === "error");
  assert.deepEqual(errors.map((e) => e.type === "error" && e.fatal), [false, false, false, false, false, false, true]);
  const last = errors.at(-1)!;
  assert.match(last.type === "error" ? last.message : "", /4 decodes in a row failed/);
});

test("close() abandons the stream: the iterator ends with no further events", async () => {
  const fake = new FakeTranscriber({ respond: timelineResponder(steadySpeech(0.5, 3, 0.4)), delayMs: 20 });
  const { stream } = makeStream(fake);
  const c = collect(stream);
  stream.pushAudio(concat(silence(0.5), voiced(2)));
  stream.close();
  const ev = await c.finished;
  assert.ok(!ev.some((e) => e.type === "final" || e.type === "ended"));
});

test("echo cut: a whole phrase said again is dropped (and an unfinished copy after it); a learner's short repeat stays", () => {
  const words = (t: string) => t.split(" ").map((w, i) => sw(w, i * 0.2));
  const echo = cutRepetition(words("I'm from the cutter lying off the coast. I'm from the cutter lying off the coast. I'm from the cutter"));
  assert.ok(echo.cut);
  assert.equal(echo.words.map((w) => w.word).join(" "), "I'm from the cutter lying off the coast.");
  const cont = cutRepetition(words("we went to the park we went to the park and played"));
  assert.equal(cont.words.map((w) => w.word).join(" "), "we went to the park and played", "what follows the copy is kept");
  for (const real of ["I I go to school", "to the, to the market", "he said no no no", "I want to, I want to go"]) {
    assert.equal(cutRepetition(words(real)).cut, false, real);
  }
});

test("agreement 0: nothing is committed before the utterance ends, then all of it at once", async () => {
  const words = steadySpeech(0.5, 4.5, 0.4);
  const fake = new FakeTranscriber({ respond: timelineResponder(words) });
  const { stream } = makeStream(fake, { agreement: 0 });
  const c = collect(stream);
  await feed(stream, concat(silence(0.5), voiced(4), silence(1.5)));
  stream.end();
  const ev = await c.finished;
  assert.deepEqual(finalWords(ev), words.map((w) => w.word));
  assert.ok(finals(ev).every((f) => f.reason === "utterance_end"), JSON.stringify(finals(ev).map((f) => f.reason)));
  assert.ok(ev.filter((e) => e.type === "partial").length >= 3, "partials while speaking");
});

test("agreement 3 commits later than agreement 2, and the same words", async () => {
  const words = steadySpeech(0.5, 6.5, 0.4);
  const firstCommit = async (agreement: number) => {
    const { stream } = makeStream(new FakeTranscriber({ respond: timelineResponder(words) }), { agreement });
    const c = collect(stream);
    await feed(stream, concat(silence(0.5), voiced(6), silence(1.5)));
    stream.end();
    const ev = await c.finished;
    assert.deepEqual(finalWords(ev), words.map((w) => w.word));
    return ev.findIndex((e) => e.type === "final");
  };
  assert.ok((await firstCommit(3)) > (await firstCommit(2)));
});

test("the first decode after silence comes firstUpdateMs after the speech, the next ones at updateMs", async () => {
  const fake = new FakeTranscriber({ respond: timelineResponder(steadySpeech(1, 4, 0.4)) });
  const { stream } = makeStream(fake, { firstUpdateMs: 500, updateMs: 1000 });
  const c = collect(stream);
  await feed(stream, concat(silence(1), voiced(3)));
  stream.end();
  await c.finished;
  const ends = fake.calls.map((x) => x.offset + x.duration);
  assert.ok(ends[0]! < 1.8, `first decode ends at ${ends[0]} s of stream (speech from 1 s)`);
  assert.ok(ends[1]! - ends[0]! >= 0.99, `second decode ${ends[1]! - ends[0]!} s later`);
});

test("cutRepetition: a loop inside one hyphenated word is cut like a word loop; a short stutter or a hyphenated word stays", () => {
  const cut = (ws: string[]) => cutRepetition(ws.map((w, i) => sw(w, i)));
  // Both shapes seen in real learner outputs (bench/eval, speechocean762).
  const jur = cut(["Mark,", "like", "the", "big", "jur-jur-jur-jur-jur-jur-jur-jur-jur", "and", "then"]);
  assert.ok(jur.cut);
  assert.deepEqual(jur.words.map((w) => w.word), ["Mark,", "like", "the", "big", "jur"]);
  assert.deepEqual(cut(["in", "And...", "T-O-O-O-O-O-O-O-O-O-"]).words.map((w) => w.word), ["in", "And...", "T-O"]);
  assert.equal(cut(["I", "w-w-want", "it"]).cut, false, "a three-piece stutter is speech");
  assert.equal(cut(["a", "mother-in-law", "came"]).cut, false);
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z]{1,4}$/), fc.integer({ min: 1, max: 12 }), (piece, reps) => {
      const r = cut(["so", Array(reps).fill(piece).join("-"), "yes"]);
      assert.equal(r.cut, reps >= 4);
      if (r.cut) assert.deepEqual(r.words.map((w) => w.word), ["so", piece]);
    }),
  );
});
