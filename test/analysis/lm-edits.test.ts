// The likelihood search (candidate edits, screen, verify) with a scripted language model: which
// candidates exist, which are scored, what is kept. The real model's behaviour is in
// real-llm.test.ts and its precision on JFLEG in docs/bench-analysis.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { confusions } from "../../src/analysis/confusions.js";
import { likelihoodEdits, LM_EDIT_DEFAULTS, type WordScorer } from "../../src/analysis/lm-edits.js";
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
  const calls = { passes: 0 };
  const v = (w: string) => ({ a: -1, an: -1, the: -1, ...liked })[w.toLowerCase().replace(/[^a-z']/g, "")] ?? -5;
  const scorer: WordScorer = {
    async scoreWords(_ctx, ws, from = 0, alts = []) {
      calls.passes++;
      return { word: ws.map((w, i) => (i < from ? NaN : v(w))), tokens: ws.map(() => 1), alt: ws.map((_, i) => (alts[i] ?? []).map(v)) };
    },
  };
  return { scorer, calls };
}

test("an edit is kept when the scorer prefers it by the margin, dressed like the learner's words, and lands on its span", async () => {
  const raw = words("Yesterday I go to the store and buyed three apple.");
  // go -> went is a tense choice: it needs choiceGain (6 here), the others minGain.
  const m = lm({ bought: -1, apples: -1, went: -5 + LM_EDIT_DEFAULTS.choiceGain });
  const r = await likelihoodEdits(raw, () => false, m.scorer);
  assert.deepEqual(r.errors.map((e) => `${e.original} -> ${e.correction}`), ["go -> went", "buyed -> bought", "apple. -> apples."]);
  assert.ok(r.screened < r.candidates, "the screen drops candidates the model finds unlikely");
  assert.equal(m.calls.passes, 1 + r.screened, "one screening pass for the block, then one per verified candidate");
  const ws = raw.map((w, i) => ({ word: w, start: i, end: i + 0.5, confidence: 1 }));
  const checked = postCheckErrors(r.errors, { words: ws, transcript: joinWords(ws), uncertain: ws.map(() => false) });
  assert.equal(checked.errors.length, 3, JSON.stringify(checked.dropped));
  for (const e of checked.errors) assert.equal(joinWords(ws).text.slice(e.start, e.end), e.original);
});

test("nothing is kept where the scorer is indifferent or below the margin; the edit count is bounded", async () => {
  const raw = words("We watched a film and then we went home.");
  assert.deepEqual((await likelihoodEdits(raw, () => false, lm({}).scorer)).errors, []);
  // Deleting "a" gains 3 here: below the margin too.
  const small = lm({ a: -3, an: -3 + LM_EDIT_DEFAULTS.minGain - 0.5 });
  assert.deepEqual((await likelihoodEdits(words("I saw a owl"), () => false, small.scorer)).errors, []);
  const big = lm({ a: -3, an: -3 + LM_EDIT_DEFAULTS.minGain + 0.5 });
  assert.deepEqual((await likelihoodEdits(words("I saw a owl"), () => false, big.scorer)).errors.map((e) => e.correction), ["an"]);
  const many = lm({ apples: 0, pears: 0, plums: 0, figs: 0, limes: 0, kiwis: 0 });
  const fruit = words("apple pear plum fig lime kiwi kiwi lime fig");
  const r = await likelihoodEdits(fruit, () => false, many.scorer, { ...LM_EDIT_DEFAULTS, verifyPerWord: 1 });
  assert.equal(r.errors.length, LM_EDIT_DEFAULTS.maxEdits);
  // The verification budget: at most verifyPerWord candidates per word.
  const bounded = await likelihoodEdits(fruit, () => false, many.scorer);
  assert.equal(bounded.screened, Math.ceil(LM_EDIT_DEFAULTS.verifyPerWord * fruit.length));
});

test("an aborted analysis stops the search", async () => {
  const m = lm({ went: 0 });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(likelihoodEdits(words("Yesterday I go home"), () => false, m.scorer, LM_EDIT_DEFAULTS, ac.signal));
});

test("a long transcript is screened in blocks, each with the words before it as context; every edit lands on its own words", async () => {
  const sentence = "yesterday I go to the park with my friend";
  const raw = words(Array.from({ length: 25 }, () => sentence).join(" ")); // 225 words
  const seen: { ctxWords: number; from: number }[] = [];
  const m = lm({ went: -5 + LM_EDIT_DEFAULTS.choiceGain });
  const scorer: WordScorer = {
    scoreWords: async (ctx, ws, from = 0, alts = []) => {
      if (alts.some((a) => a?.length)) seen.push({ ctxWords: from, from: ws.length });
      return m.scorer.scoreWords(ctx, ws, from, alts);
    },
  };
  const r = await likelihoodEdits(raw, () => false, scorer, { ...LM_EDIT_DEFAULTS, maxEdits: 100 });
  assert.equal(seen.length, Math.ceil(raw.length / LM_EDIT_DEFAULTS.block));
  assert.deepEqual(seen.map((s) => s.ctxWords), [0, ...seen.slice(1).map(() => LM_EDIT_DEFAULTS.contextWords)]);
  assert.ok(r.errors.length > 0);
  for (const e of r.errors) assert.equal(raw.slice(e.word_start!, e.word_end! + 1).join(" "), e.original);
});

test("a choice between two real forms needs the larger gain; an invented form the smaller", async () => {
  const tense = lm({ went: -5 + LM_EDIT_DEFAULTS.minGain + 0.5 });
  assert.deepEqual((await likelihoodEdits(words("Yesterday I go home"), () => false, tense.scorer)).errors, []);
  const invented = lm({ bought: -5 + LM_EDIT_DEFAULTS.minGain + 0.5 });
  assert.deepEqual((await likelihoodEdits(words("Yesterday I buyed bread"), () => false, invented.scorer)).errors.map((e) => e.correction), ["bought"]);
});

test("candidates: negated auxiliaries agree with their subject; other contractions are not conjugated", () => {
  assert.ok(has("she don't know", "don't -> doesn't"));
  assert.ok(has("they isn't here", "isn't -> aren't"));
  assert.ok(!confusions(words("she don't know")).some((c) => c.original === "don't" && !["doesn't", "didn't"].includes(c.correction)));
  assert.ok(!confusions(words("I'll go and we're late")).some((c) => c.original.includes("'")));
});

test("an edit on a block's last word is compared on as many words after it as its correction", async () => {
  const at = LM_EDIT_DEFAULTS.block - 1;
  const raw = Array.from({ length: LM_EDIT_DEFAULTS.block + 10 }, (_, i) => (i === at ? "the" : i === at + 1 ? "cat" : "walk"));
  const r = await likelihoodEdits(raw, () => false, lm({}).scorer, { ...LM_EDIT_DEFAULTS, verifyPerWord: 1 });
  const deletion = r.scored.find((x) => x.edit === "the cat -> cat" && x.at === at);
  assert.ok(deletion, JSON.stringify(r.scored.filter((x) => x.at === at)));
  // Deleting "the" (-1) and moving the words up by one: exactly +1 when both sides cover the same words.
  assert.equal(deletion.delta, 1);
});

test("an hour-long transcript verifies about maxVerified candidates in all, spread over its blocks", async () => {
  const raw = words(Array.from({ length: 300 }, () => "yesterday I go to the park with my friend").join(" ")); // 2700 words
  const m = lm({ went: -5 + LM_EDIT_DEFAULTS.choiceGain });
  const r = await likelihoodEdits(raw, () => false, m.scorer);
  const blocks = Math.ceil(raw.length / LM_EDIT_DEFAULTS.block);
  assert.ok(r.screened <= LM_EDIT_DEFAULTS.maxVerified + blocks, `${r.screened} verified`);
  assert.ok(r.screened >= LM_EDIT_DEFAULTS.maxVerified / 2, "the budget is used, not dropped");
});
