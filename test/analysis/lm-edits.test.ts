// The likelihood search (candidate edits, screen, verify) with a scripted language model: which
// candidates exist, which are scored, what is kept. The real model's behaviour is in
// real-llm.test.ts and its precision on JFLEG in docs/bench-analysis.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { confusions } from "../../src/analysis/confusions.js";
import { likelihoodEdits, LM_EDIT_DEFAULTS, type WordScorer } from "../../src/analysis/lm-edits.js";
import type { Scorer } from "../../src/analysis/passes.js";
import { postCheckErrors } from "../../src/analysis/postcheck.js";
import { joinWords } from "../../src/analysis/text.js";

const words = (s: string) => s.split(" ");
const has = (s: string, edit: string) => confusions(words(s)).some((c) => `${c.original} -> ${c.correction}` === edit);

test("candidates: verb forms, agreement, noun number, articles and prepositions, from the sentence's own tags", () => {
  const s = "Yesterday I go to the store and buyed three apple.";
  for (const e of ["go -> went", "go -> goes", "buyed -> bought", "apple -> apples", "the -> a", "the store -> store", "to -> at"]) assert.ok(has(s, e), e);
  // A regular past on an irregular verb is a past the learner meant: no present or -ing for it.
  assert.ok(!has(s, "buyed -> buy") && !has(s, "buyed -> buying"));
  assert.ok(has("my sister work in a bank", "work -> works"));
  assert.ok(has("she is my friend", "is -> are") && has("she is my friend", "is -> was"));
  assert.ok(has("I went to store", "store -> the store"), "a missing article before a bare singular noun");
  assert.ok(!has("I went to the store", "store -> the store"), "never a second article");
  for (const c of confusions(words("I can swim and he will come"))) assert.ok(!["can", "will"].includes(c.original), "modals have no forms to confuse");
});

test("candidates: skipped words get none; every candidate changes its words and stays inside the sentence", () => {
  const s = "um my sister work in a bank";
  assert.ok(!confusions(words(s), (i) => i === 3).some((c) => c.at === 3));
  fc.assert(
    fc.property(fc.array(fc.constantFrom("I", "go", "the", "a", "an", "apple", "apples", "to", "in", "is", "are", "buyed", "children", "she", "quickly", ".", "??", "went", "said"), { minLength: 1, maxLength: 14 }), (ws) => {
      for (const c of confusions(ws)) {
        assert.ok(c.at >= 0 && c.at + c.len <= ws.length);
        assert.notEqual(c.correction, c.original);
        assert.ok(c.explanation.length <= 80, c.explanation);
      }
    }),
    { numRuns: 300 },
  );
});

/**
 * A language model that likes some words: each word scores liked[w] in any context, -5 by default
 * and -1 for the articles (a real model expects them: deleting one gains little).
 */
function lm(liked: Record<string, number>) {
  const calls = { screen: 0, verify: 0 };
  const v = (w: string) => ({ a: -1, an: -1, the: -1, ...liked })[w.toLowerCase().replace(/[^a-z']/g, "")] ?? -5;
  const scorer: WordScorer = {
    async wordScores(_ctx, ws, alts) {
      calls.screen++;
      return { word: ws.map(v), alt: alts.map((a) => a.map(v)) };
    },
  };
  const score: Scorer = async (_ctx, text) => {
    calls.verify++;
    const ts = text.trim().split(/\s+/);
    return { logProb: ts.reduce((s, w) => s + v(w), 0), tokens: ts.length };
  };
  return { scorer, score, calls };
}

test("an edit is kept when the scorer prefers it by the margin, dressed like the learner's words, and lands on its span", async () => {
  const raw = words("Yesterday I go to the store and buyed three apple.");
  const m = lm({ bought: -1, apples: -1, went: -1 });
  const r = await likelihoodEdits(raw, () => false, m.scorer, m.score);
  assert.deepEqual(r.errors.map((e) => `${e.original} -> ${e.correction}`), ["go -> went", "buyed -> bought", "apple. -> apples."]);
  assert.equal(m.calls.screen, 1, "one screening pass for the whole transcript");
  assert.ok(r.screened < r.candidates, "the screen drops candidates the model finds unlikely");
  const ws = raw.map((w, i) => ({ word: w, start: i, end: i + 0.5, confidence: 1 }));
  const checked = postCheckErrors(r.errors, { words: ws, transcript: joinWords(ws), uncertain: ws.map(() => false) });
  assert.equal(checked.errors.length, 3, JSON.stringify(checked.dropped));
  for (const e of checked.errors) assert.equal(joinWords(ws).text.slice(e.start, e.end), e.original);
});

test("nothing is kept where the scorer is indifferent or below the margin; the edit count is bounded", async () => {
  const raw = words("We watched a film and then we went home.");
  assert.deepEqual((await likelihoodEdits(raw, () => false, lm({}).scorer, lm({}).score)).errors, []);
  // Deleting "a" gains 3 here: below the margin too.
  const small = lm({ a: -3, an: -3 + LM_EDIT_DEFAULTS.minGain - 0.5 });
  assert.deepEqual((await likelihoodEdits(words("I saw a owl"), () => false, small.scorer, small.score)).errors, []);
  const big = lm({ a: -3, an: -3 + LM_EDIT_DEFAULTS.minGain + 0.5 });
  assert.deepEqual((await likelihoodEdits(words("I saw a owl"), () => false, big.scorer, big.score)).errors.map((e) => e.correction), ["an"]);
  const many = lm({ apples: 0, pears: 0, plums: 0, figs: 0, limes: 0, kiwis: 0 });
  const r = await likelihoodEdits(words("apple pear plum fig lime kiwi"), () => false, many.scorer, many.score);
  assert.equal(r.errors.length, LM_EDIT_DEFAULTS.maxEdits);
});

test("an aborted analysis stops the search", async () => {
  const m = lm({ went: 0 });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(likelihoodEdits(words("Yesterday I go home"), () => false, m.scorer, m.score, LM_EDIT_DEFAULTS, ac.signal));
});
