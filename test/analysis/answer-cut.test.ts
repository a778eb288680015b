// The early stop of feedback-v4 answers, on generated answers read at every length they pass
// through while streaming: the cut is a closed, schema-valid answer that keeps everything up to
// and including the first no-op error, and it happens as soon as that error is complete.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { cutAtFirstNoop } from "../../src/analysis/answer-cut.js";
import { LlmFeedbackV4 } from "../../src/analysis/llm-schema.js";
import { sameWords } from "../../src/analysis/postcheck.js";

// Strings with the characters that could confuse a scanner: quotes, backslashes, braces, brackets.
const tricky = fc.string({ unit: fc.constantFrom("a", "b", " ", '"', "\\", "{", "}", "[", "]", ":", ",", "é", "\n"), maxLength: 12 });
const word = fc.constantFrom("i", "go", "went", "buyed", "bought", "the", "store", "Apple.", "apple");
const phrase = fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(" "));
const error = fc
  .record({ original: phrase, explanation: tricky, correction: phrase, type: fc.constantFrom("tense", "verb_form", "article"), severity: fc.constantFrom("minor", "moderate") })
  .chain((e) => fc.oneof(fc.constant(e), fc.constant({ ...e, correction: e.original }), fc.constant({ ...e, correction: e.original.toUpperCase() + "." })));
const answer = fc.record({
  level: fc.record({ cefr: fc.constantFrom("A2", "B1"), reason: tricky }),
  strength: tricky,
  errors: fc.array(error, { maxLength: 4 }),
});

test("a v4 answer cut at every streamed length: null until the first no-op error is complete, then that answer closed", () => {
  fc.assert(
    fc.property(answer, fc.constantFrom(0, 1), (a, indent) => {
      const text = JSON.stringify(a, null, indent || undefined);
      const firstNoop = a.errors.findIndex((e) => sameWords(e.original, e.correction));
      const expected = firstNoop < 0 ? null : { ...a, errors: a.errors.slice(0, firstNoop + 1) };
      // Where the first no-op's object ends in the text: the cut must come exactly there.
      const noopEnd = expected === null ? Infinity : JSON.stringify({ ...a, errors: a.errors.slice(0, firstNoop + 1) }, null, indent || undefined).replace(/\s*\]\s*\}\s*$/, "").length;
      for (let n = 0; n <= text.length; n++) {
        const cut = cutAtFirstNoop(text.slice(0, n));
        if (n < noopEnd) {
          assert.equal(cut, null, `cut too early at ${n}: ${text.slice(0, n)}`);
          continue;
        }
        assert.notEqual(cut, null, `not cut at ${n} although the no-op error is complete`);
        const parsed = LlmFeedbackV4.parse(JSON.parse(cut!));
        assert.deepEqual(parsed, LlmFeedbackV4.parse(expected));
      }
    }),
    { numRuns: 300 },
  );
});

test("an answer without a no-op error is never cut, nor a partial one before its errors", () => {
  const a = { level: { cefr: "A2", reason: 'said "errors": [ ]' }, strength: "good {errors}", errors: [{ original: "i go", explanation: "past", correction: "i went", type: "tense", severity: "moderate" }] };
  const text = JSON.stringify(a);
  for (let n = 0; n <= text.length; n++) assert.equal(cutAtFirstNoop(text.slice(0, n)), null);
  assert.equal(cutAtFirstNoop(""), null);
  assert.equal(cutAtFirstNoop("not json"), null);
});
