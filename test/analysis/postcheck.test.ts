// The edit-level gates between the LLM and the learner (no LLM: the proposed edits are generated).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ALL_GATES, GATES, postCheckErrors, type Gate } from "../../src/analysis/postcheck.js";
import { disfluencies } from "../../src/analysis/metrics.js";
import { joinWords } from "../../src/analysis/text.js";
import type { LlmError } from "../../src/analysis/llm-schema.js";

const words = (text: string, gaps: Record<number, number> = {}) => {
  let t = 0;
  return text.split(" ").map((w, i) => {
    const start = t + (gaps[i] ?? 0.08);
    t = start + 0.3;
    return { word: w, start, end: t, confidence: 1 };
  });
};
const ctx = (text: string, opts: { uncertain?: number[]; gates?: Gate[]; gaps?: Record<number, number> } = {}) => {
  const ws = words(text, opts.gaps);
  return {
    words: ws,
    transcript: joinWords(ws),
    uncertain: ws.map((_, i) => (opts.uncertain ?? []).includes(i)),
    disfluent: disfluencies(ws).indices,
    gates: opts.gates ? new Set<Gate>(opts.gates) : ALL_GATES,
  };
};
const err = (original: string, correction: string, extra: Partial<LlmError> = {}): LlmError => ({ original, correction, type: "tense", explanation: "x", severity: "moderate", ...extra });

test("gates: each one drops what it names, and only with it switched on", () => {
  const c = ctx("Yesterday I go to the store and buyed three apple.");
  const r = postCheckErrors([err("I go", "I went"), err("we go", "we went"), err("buyed", "buyed"), err("apple.", "Apple"), err("go to the store and buyed three", "went shopping yesterday for some fruit and more")], c);
  assert.deepEqual(r.errors.map((e) => [e.original, e.correction]), [["I go", "I went"]]);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["span", "differs", "surface_only", "rewrite"]);
  // With only the span gate, everything that can be placed is kept (what eval:feedback calls "before gates").
  const loose = postCheckErrors([err("buyed", "buyed"), err("apple.", "Apple")], ctx("Yesterday I go to the store and buyed three apple.", { gates: ["span"] }));
  assert.equal(loose.errors.length, 2);
});

test("gates: fillers, repetitions and restarts counted in fluency are not grammar errors", () => {
  // "um" is a filler, "I I" a repetition, "we went to the, sorry, we went to" a restart.
  const c = ctx("um I I like the park and we went to the sorry we went to the lake", { gaps: { 0: 0.08, 11: 0.5 } });
  const r = postCheckErrors([err("um I", "I"), err("I I", "I"), err("I I like", "I liked")], c);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["disfluency", "disfluency"]);
  // A real change next to a repetition still counts.
  assert.deepEqual(r.errors.map((e) => e.correction), ["I liked"]);
});

test("gates: uncertain words become recognition notes; one edit per span; repeated words find the next free place", () => {
  const c = ctx("he go home and he go to bed", { uncertain: [7] });
  const r = postCheckErrors([err("he go", "he goes"), err("he go", "he goes"), err("go home", "goes home"), err("bed", "the bed")], c);
  assert.deepEqual(r.errors.map((e) => [e.start, e.original, e.type]), [[0, "he go", "tense"], [15, "he go", "tense"], [24, "bed", "recognition_uncertain"]]);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["one_per_span"]);
  // A v1 word-number hint that holds the quoted words is used as given.
  const hinted = postCheckErrors([err("he go", "he goes", { word_start: 4, word_end: 5 })], c);
  assert.equal(hinted.errors[0]!.start, 15);
});

test("property: whatever the model proposes, every kept error's offsets hold its own text and spans never overlap", () => {
  const vocab = ["i", "go", "went", "to", "the", "store", "um", "and", "buyed", "apple", "apple.", "I", "Yesterday,", "three"];
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...vocab), { minLength: 1, maxLength: 25 }),
      fc.array(fc.tuple(fc.nat(30), fc.integer({ min: 1, max: 4 }), fc.array(fc.constantFrom(...vocab, "??", "x"), { maxLength: 4 })), { maxLength: 8 }),
      fc.subarray([...GATES]),
      (ws, proposals, gates) => {
        const text = ws.join(" ");
        const c = ctx(text, { uncertain: [1], gates: gates as Gate[] });
        const errs = proposals.map(([at, len, corr]) => err(ws.slice(at % ws.length, (at % ws.length) + len).join(" "), corr.join(" ")));
        const r = postCheckErrors(errs, c);
        assert.equal(r.errors.length + r.dropped.length, errs.length);
        for (const e of r.errors) assert.equal(c.transcript.text.slice(e.start, e.end), e.original);
        if (gates.includes("one_per_span")) for (let i = 1; i < r.errors.length; i++) assert.ok(r.errors[i]!.start >= r.errors[i - 1]!.end);
      },
    ),
    { numRuns: 300 },
  );
});

test("gates: an answer made mostly of no-op edits is not trusted at all (confused)", () => {
  const c = ctx("the critics used few arguments and they was right");
  const list = [err("the critics", "The critics"), err("few arguments", "few arguments"), err("they was", "they were")];
  const r = postCheckErrors(list, c);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["surface_only", "differs", "confused"]);
  // Mostly real edits: kept.
  assert.equal(postCheckErrors([err("they was", "they were"), err("few arguments", "few arguments"), err("used few", "used a few")], c).errors.length, 2);
  assert.equal(postCheckErrors(list, ctx("the critics used few arguments and they was right", { gates: GATES.filter((g) => g !== "confused") })).errors.length, 1);
});

test("gates: an edit that drops one disfluent word and keeps another is still only tidying speech", () => {
  // "information at sorry information at": a restart; "er" a filler. Dropping "er" but keeping "sorry" changes nothing else.
  const c = ctx("now we have all the information at sorry information at our er disposal", { gaps: { 7: 0.5, 11: 0.5 } });
  const r = postCheckErrors([err("sorry information at our er disposal", "sorry information at our disposal"), err("we have", "we had")], c);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["disfluency"]);
  assert.deepEqual(r.errors.map((e) => e.correction), ["we had"]);
});

test("gates: a correction that only repeats the words next to the span changes nothing in context", () => {
  const c = ctx("My brother lives in a small town near the sea.");
  const r = postCheckErrors([err("My brother", "My brother lives"), err("near the sea.", "town near the sea"), err("lives", "lived")], c);
  assert.deepEqual(r.errors.map((e) => [e.original, e.correction]), [["lives", "lived"]]);
  assert.deepEqual(r.dropped.map((d) => d.gate), ["differs", "differs"]);
  // A real insertion is kept: "I go store" -> "I go to the store" adds words the transcript lacks.
  assert.equal(postCheckErrors([err("go store", "go to the store")], ctx("Yesterday I go store.")).errors.length, 1);
});
