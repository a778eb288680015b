import { test } from "node:test";
import assert from "node:assert/strict";
import { disfluencies, findFillers, fluencyMetrics, mtld } from "../../src/analysis/metrics.js";
import { assessQuality } from "../../src/analysis/quality.js";
import { levelOf, parseWordList, vocabularyProfile } from "../../src/analysis/vocabulary.js";
import type { Word } from "../../src/protocol/messages.js";

const w = (word: string, start: number, end: number, confidence = 0.9): Word => ({ word, start, end, confidence });
/** Words 0.2 s long with 0.1 s gaps unless a gap is given: [word, gapBefore?]. */
function seq(...items: (string | [string, number])[]): Word[] {
  let t = 0;
  return items.map((it, i) => {
    const [word, gap] = typeof it === "string" ? [it, 0.1] : it;
    if (i > 0) t += gap;
    const out = w(word, t, t + 0.2);
    t += 0.2;
    return out;
  });
}

test("fluency metrics on hand-made timings have the hand-computed values", () => {
  const words = [w("I", 0.0, 0.2), w("went", 0.3, 0.6), w("um", 1.0, 1.3), w("to", 2.6, 2.8), w("the", 2.9, 3.0), w("the", 3.05, 3.2), w("shop.", 3.3, 3.8)];
  const m = fluencyMetrics(words);
  assert.equal(m.word_count, 7);
  assert.equal(m.speaking_time_s, 3.8);
  assert.equal(m.words_per_minute, 110.5); // 7 / 3.8 s * 60
  assert.deepEqual(m.pauses, { count: 2, mean_s: 0.85, longest_s: 1.3, over_1s: 1 }); // gaps 0.4 and 1.3
  assert.equal(m.articulation_rate_wpm, 200); // 7 / (3.8 - 1.7) * 60
  assert.deepEqual(m.fillers, { count: 1, per_minute: 15.8, items: { um: 1 } });
  assert.equal(m.repetitions, 1); // "the the"
  assert.equal(m.self_corrections, 0);
  assert.equal(m.lexical_diversity.ttr, 0.833); // 5 types / 6 tokens (filler excluded)
  assert.equal(m.lexical_diversity.mtld, null); // under 10 tokens
});

test("empty input gives zeroed metrics", () => {
  const m = fluencyMetrics([]);
  assert.equal(m.word_count, 0);
  assert.equal(m.words_per_minute, 0);
  assert.equal(m.lexical_diversity.ttr, null);
});

test("'like' and 'you know' count as fillers only when set off by a break", () => {
  assert.equal(findFillers(seq("I", "like", "tea", "very", "much")).length, 0);
  assert.deepEqual(findFillers(seq("it", "was,", "like,", "really", "good")).map((f) => f.text), ["like"]);
  assert.deepEqual(findFillers(seq("it", "was", ["you", 0.6], "know", "fine")).map((f) => f.text), ["you know"]);
  assert.equal(findFillers(seq("you", "know", "him")).length, 1); // sentence-initial: set off by the edge
  assert.equal(findFillers(seq("do", "you", "know", "him")).length, 0);
});

const counts = (d: { repetitions: number; selfCorrections: number }) => ({ repetitions: d.repetitions, selfCorrections: d.selfCorrections });

test("repetitions and self-corrections", () => {
  assert.deepEqual(counts(disfluencies(seq("he", "go,", "sorry,", "he", "goes", "home"))), { repetitions: 0, selfCorrections: 1 });
  assert.deepEqual(counts(disfluencies(seq("he", "go", ["he", 0.8], "goes", "home"))), { repetitions: 0, selfCorrections: 1 });
  assert.deepEqual(counts(disfluencies(seq("he", "said", "he", "would", "come"))), { repetitions: 0, selfCorrections: 0 });
  assert.deepEqual(counts(disfluencies(seq("in", "the", "in", "the", "morning"))), { repetitions: 1, selfCorrections: 0 });
  // The words these counts cover (for the feedback gates): the abandoned "he go", the cue, the first copy.
  assert.deepEqual([...disfluencies(seq("he", "go,", "sorry,", "he", "goes", "home")).indices].sort(), [0, 1, 2]);
  assert.deepEqual([...disfluencies(seq("in", "the", "in", "the", "morning")).indices].sort(), [0, 1]);
  assert.deepEqual([...disfluencies(seq("I", "uh", "I", "think")).indices].sort(), [0, 1]);
  assert.deepEqual(counts(disfluencies(seq("I", "uh", "I", "think"))), { repetitions: 1, selfCorrections: 0 });
});

test("MTLD on sequences with known answers", () => {
  // forward and backward: factors close at tokens 3, 6, 9; remainder "b" has TTR 1 -> 0 -> 10/3
  assert.equal(Math.round(mtld("a b a b a b a b a b".split(" "))! * 1000) / 1000, 3.333);
  // never drops to 0.72: no factor, the length is the lower bound
  assert.equal(mtld("a b c d e f g h i j".split(" ")), 10);
  // forward: "a a" closes a factor (TTR .5) five times -> 10/5 = 2; same backward
  assert.equal(mtld(Array(10).fill("a")), 2);
  assert.equal(mtld("a b c".split(" ")), null);
});

test("quality gate: empty, 2 words, all uncertain -> unusable; some uncertain -> partly_unreliable", () => {
  const opts = { confidenceThreshold: 0.5, minWords: 5 };
  assert.equal(assessQuality([], opts).quality, "unusable");
  assert.equal(assessQuality(seq("hello", "there"), opts).quality, "unusable");
  const low = seq("I", "went", "to", "the", "shop", "yesterday").map((x) => ({ ...x, confidence: 0.2 }));
  const all = assessQuality(low, opts);
  assert.equal(all.quality, "unusable");
  assert.equal(all.detail.uncertain_words, 6);
  assert.ok(all.detail.advice.some((a) => /microphone/.test(a)));
  const some = seq("I", "went", "to", "the", "shop", "yesterday", "and", "bought", "some", "bread");
  some[3] = { ...some[3]!, confidence: 0.3 };
  const r = assessQuality(some, opts);
  assert.equal(r.quality, "partly_unreliable");
  assert.deepEqual(r.uncertain.map((u, i) => (u ? i : -1)).filter((i) => i >= 0), [3]);
  assert.equal(assessQuality(seq("I", "went", "to", "the", "shop", "yesterday"), opts).quality, "ok");
  assert.equal(assessQuality(seq("Thank", "you."), { ...opts, minWords: 1 }).quality, "unusable");
});

test("vocabulary profile: levels from the list, inflections lemmatised", () => {
  const list = parseWordList("headword,pos,CEFR\ngo,verb,A1,,,\ncolour/color,noun,A1,,,\nnevertheless,adverb,B2,,,\n", "test");
  assert.equal(levelOf("went", list), "A1");
  assert.equal(levelOf("colours", list), "A1");
  const p = vocabularyProfile(["went", "nevertheless", "zork", "color"], list);
  assert.deepEqual(p.counts, { A1: 2, A2: 0, B1: 0, B2: 1, C1: 0, C2: 0, unknown: 1 });
  assert.equal(p.levels.A1, 0.5);
  assert.deepEqual(p.above_b1, ["nevertheless"]);
  // the bundled list loads and knows everyday words
  assert.equal(levelOf("studying"), "A1");
  assert.equal(levelOf("ubiquitous"), "C1");
});

import { edits, f05, scoreToks, toks } from "../../src/analysis/eval-score.js";
import { joinWords } from "../../src/analysis/text.js";
test("eval scoring: word edits and F0.5 with known answers", () => {
  assert.deepEqual([...edits(toks("I goes to school"), toks("I go to school"))], ["1:2:go"]);
  assert.deepEqual([...edits(toks("he go school"), toks("he goes to school"))], ["1:2:goes to"]);
  assert.deepEqual([...edits(toks("a b c"), toks("a b c"))], []);
  assert.deepEqual([...edits(toks("I very like it"), toks("I like it"))], ["1:2:"]);
  assert.equal(f05(1, 1, 1), 0.5); // P = R = 0.5
  assert.equal(Math.round(f05(1, 0, 3) * 1000) / 1000, 0.625); // P 1, R .25: 1.25*.25/(.25+.25)
  // A transcript joins punctuation to the word before it; scoring must not count that as an edit.
  const src = "a rolling stone gathers no moss , they say .";
  assert.deepEqual([...edits(scoreToks(src), scoreToks(joinWords(src.split(" ").map((word) => ({ word }))).text))], []);
});
