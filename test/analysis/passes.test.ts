// The likelihood passes (span repair, edit gain) with a scripted scorer in place of the model:
// the language model is outside the unit; what is tested is which variants are scored and what is
// kept. The real model's behaviour is in real-llm.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { editGain, FIX_MIN_GAIN, repairCopiedSpans, type Scorer, perTokenGain } from "../../src/analysis/passes.js";
import type { LlmError } from "../../src/analysis/llm-schema.js";

const err = (original: string, correction: string, explanation: string): LlmError => ({ original, correction, explanation, type: "verb_form", severity: "moderate" });

/** A scorer that likes the given words (+gain each) and records what it was asked. */
function scorer(liked: Record<string, number>): Scorer & { calls: { context: string; text: string }[] } {
  const calls: { context: string; text: string }[] = [];
  const f = async (context: string, text: string) => {
    calls.push({ context, text });
    const ws = text.trim().split(/\s+/);
    return { logProb: ws.reduce((s, w) => s + (liked[w] ?? -5), 0), tokens: ws.length };
  };
  return Object.assign(f, { calls });
}

test("a copied edit takes its explanation's last word where the scorer finds it more likely", async () => {
  const words = "Yesterday I go to the store and buyed three apple.".split(" ");
  const s = scorer({ bought: 0 });
  const r = await repairCopiedSpans([err("buyed", "buyed", "Yesterday is past: buy becomes bought."), err("I go", "I went", "Past: went.")], words, s);
  assert.equal(r.errors[0]!.correction, "bought");
  assert.equal(r.errors[1]!.correction, "I went", "an edit that already changes something is not touched");
  assert.deepEqual([r.asked, r.changed], [1, 1]);
  // The neighbourhood: the words before the span as context, the span variant and the words after.
  assert.ok(s.calls.every((c) => c.context.endsWith("Yesterday I go to the store and") && c.text.endsWith(" three apple.")));
});

test("no repair when the variant is not more likely by the margin, or the last word is already in the sentence", async () => {
  const words = "I usually walk to work in the morning.".split(" ");
  const flat = scorer({});
  const r1 = await repairCopiedSpans([err("I usually walk", "I usually walk", "walk becomes walked.")], words, flat);
  assert.equal(r1.errors[0]!.correction, "I usually walk", "equal likelihood (gain 0 < FIX_MIN_GAIN) keeps the copy, which differs then drops");
  assert.equal(r1.changed, 0);
  const r2 = await repairCopiedSpans([err("in the morning", "in the morning", "The past of morning becomes morning.")], words, scorer({}));
  assert.deepEqual([r2.asked, r2.changed], [0, 0], "the explanation's last word is in the sentence: no candidate, no call");
});

test("generated copies: a repair happens exactly when the candidate's gain reaches the margin, and it changes one word of the span", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.constantFrom("we", "go", "to", "a", "shop", "and", "see", "it"), { minLength: 3, maxLength: 10 }), fc.nat(5), fc.double({ min: -3, max: 3, noNaN: true }), async (words, at, bonus) => {
      const ws = Math.min(at, words.length - 1);
      const span = words.slice(ws, ws + 1).join(" ");
      const s = scorer({ zzfix: -5 + bonus });
      const r = await repairCopiedSpans([err(span, span, `becomes zzfix`)], words, s);
      const fixed = r.errors[0]!.correction;
      if (bonus >= FIX_MIN_GAIN) assert.equal(fixed, "zzfix");
      else assert.equal(fixed, span);
      assert.equal(r.tried.length, 1);
    }),
    { numRuns: 60 },
  );
});

test("editGain is the corrected words' log-likelihood minus the original's in the same neighbourhood", async () => {
  const words = "she work in a bank".split(" ");
  const s = scorer({ works: -1, work: -6 });
  const g = await editGain(words, 1, 1, "work", "works", s);
  assert.equal(g.delta, 5);
  assert.equal(s.calls[0]!.context, s.calls[1]!.context);
});

test("the likelihood check's figure is per token: a deletion gains nothing for being shorter", () => {
  // "Take toys for example -> take toys" as measured: +4.4 nats summed, -1.1 per token.
  const deletion = { original: { logProb: -78.98, tokens: 11 }, corrected: { logProb: -74.6, tokens: 9 } };
  assert.ok(deletion.corrected.logProb - deletion.original.logProb > 0);
  assert.ok(perTokenGain(deletion) < 0);
  // Same length: the per-token gain is the summed gain over the token count.
  assert.equal(perTokenGain({ original: { logProb: -20, tokens: 4 }, corrected: { logProb: -12, tokens: 4 } }), 2);
  // A zero-token text (an edit that deletes everything) never divides by zero.
  assert.ok(Number.isFinite(perTokenGain({ original: { logProb: -5, tokens: 2 }, corrected: { logProb: 0, tokens: 0 } })));
});

test("a repair never makes the candidate a second form of another word of the sentence; the replaced word itself may share it", async () => {
  // Measured with the real 0.5B: "This system of economics" -> "This system of systems" (+3.2 nats).
  const liked = scorer({ systems: 0, apples: 0 });
  const r = await repairCopiedSpans([err("This system of economics", "This system of economics", "The plural is systems")], "This system of economics is the best .".split(" "), liked);
  const scored = liked.calls.map((c) => c.text.trim());
  assert.ok(!scored.some((t) => /system\b.*\bsystems|systems\b.*\bsystem\b/.test(t)), `a variant with two forms of "system" was scored: ${JSON.stringify(scored)}`);
  assert.equal(r.errors[0]!.correction, "This systems of economics", "only the word that shares the stem was a place for the candidate");
  const plural = await repairCopiedSpans([err("three apple", "three apple", "More than one: apples")], "I bought three apple yesterday".split(" "), liked);
  assert.equal(plural.errors[0]!.correction, "three apples", "the word replaced is the one that shares the stem");
});
