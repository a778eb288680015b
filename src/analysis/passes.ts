// Passes between the model's answer and the gates that use the model's own likelihoods (embedded
// only: remote providers give no log-probabilities, and these passes are then skipped).
//
// Span repair: small models often explain an error right and copy the original into the
// correction ("buyed -> buyed", "Yesterday is past: buy becomes bought"); the differs gate drops
// such an edit. The prompt asks for explanations that end on the right form ("go becomes went"),
// so the explanation's last word is the candidate: it replaces one word of the quoted span (never
// so that it repeats another word of the sentence in another form), and the variant the model
// finds most likely in the sentence is the correction when it beats the original words by
// FIX_MIN_GAIN. Asking the model to write the corrected words again
// (free generation, isolated prompt) was measured first and dropped: the 0.5B default copied its
// explanation's words into the span ("in the morning -> the past of morning"), docs/bench-analysis.md.
//
// Likelihood check: the words with the correction should be at least as likely as the original's,
// in the same context (the issue's verification pass).
import type { LlmError } from "./llm-schema.js";
import { findSpan, sameWords } from "./postcheck.js";
import { normalizeWord } from "./text.js";

export type Scorer = (context: string, text: string) => Promise<{ logProb: number; tokens: number }>;

/** Words of context on each side of a span when scoring (the edit's neighbourhood, not the whole answer). */
export const SCORE_WORDS_BEFORE = 10;
export const SCORE_WORDS_AFTER = 6;
/** A repaired span must be at least this much more likely (natural log, summed) than the original. */
export const FIX_MIN_GAIN = 1;
const PREAMBLE = "Correct English:";

/** Context before a span and the words after it, as plain text. */
export function neighbourhood(words: readonly string[], ws: number, len: number): { context: string; after: string } {
  const before = words.slice(Math.max(0, ws - SCORE_WORDS_BEFORE), ws).join(" ");
  return { context: before ? `${PREAMBLE} ${before}` : PREAMBLE, after: words.slice(ws + len, ws + len + SCORE_WORDS_AFTER).join(" ") };
}
const textOf = (span: string, after: string) => ` ${span}${after ? ` ${after}` : ""}`;

/** Letters two words must share at the start to count as forms of one word ("system", "systems"). */
export const STEM_LETTERS = 4;
const stemOf = (w: string) => normalizeWord(w).slice(0, STEM_LETTERS);

/**
 * True when `candidate`, put at word `at`, would be a form of another word of the sentence
 * ("This system of economics -> This system of systems", "but in contrasting -> contrasts in
 * contrasting"): the model has copied the sentence's own words into its explanation, the failure
 * measured for free re-generation too. Only the replaced word may share its stem ("apple ->
 * apples").
 */
function repeatsAStem(candidate: string, words: readonly string[], at: number): boolean {
  if (normalizeWord(candidate).length < STEM_LETTERS) return false;
  const stem = stemOf(candidate);
  return words.some((w, i) => i !== at && normalizeWord(w).length >= STEM_LETTERS && stemOf(w) === stem);
}

export interface SpanRepairResult {
  errors: LlmError[];
  /** Copied edits with at least one candidate. */
  asked: number;
  changed: number;
  tried: { original: string; best: string | null; gain: number | null }[];
}

export async function repairCopiedSpans(errors: readonly LlmError[], words: readonly string[], score: Scorer, minGain = FIX_MIN_GAIN): Promise<SpanRepairResult> {
  const out = [...errors];
  const res: SpanRepairResult = { errors: out, asked: 0, changed: 0, tried: [] };
  const inSentence = new Set(words.map(normalizeWord));
  const asWords = words.map((w) => ({ word: w }));
  for (const [i, e] of errors.entries()) {
    if (!e.original.trim() || !sameWords(e.original, e.correction)) continue;
    const ws = findSpan(asWords, e.original);
    if (ws < 0) continue;
    const span = e.original.trim().split(/\s+/);
    const last = normalizeWord(e.explanation.trim().split(/\s+/).at(-1) ?? "");
    const candidates = last.length >= 2 && !inSentence.has(last) ? [last] : [];
    if (candidates.length === 0) continue;
    res.asked++;
    const { context, after } = neighbourhood(words, ws, span.length);
    const base = await score(context, textOf(span.join(" "), after));
    let best: { text: string; logProb: number } | null = null;
    for (let k = 0; k < span.length; k++) {
      for (const c of candidates) {
        if (repeatsAStem(c, words, ws + k)) continue;
        const variant = span.map((w, j) => (j === k ? c : w)).join(" ");
        const r = await score(context, textOf(variant, after));
        if (!best || r.logProb > best.logProb) best = { text: variant, logProb: r.logProb };
      }
    }
    const gain = best ? best.logProb - base.logProb : null;
    res.tried.push({ original: e.original, best: best?.text ?? null, gain });
    if (best && gain !== null && gain >= minGain) {
      out[i] = { ...e, correction: best.text };
      res.changed++;
    }
  }
  return res;
}

/**
 * The likelihood check's figure: the gain in mean log-likelihood per scored token. A sum would
 * favour any edit that deletes words (fewer tokens, fewer negative terms): measured, it kept
 * "Take toys for example -> take toys" (+4.4 nats summed, -1.1 per token), a deletion no human
 * correction makes (docs/bench-analysis.md).
 */
export function perTokenGain(g: { original: { logProb: number; tokens: number }; corrected: { logProb: number; tokens: number } }): number {
  return g.corrected.logProb / Math.max(1, g.corrected.tokens) - g.original.logProb / Math.max(1, g.original.tokens);
}

/** Log-likelihood gain of an edit in its neighbourhood (corrected words minus original words). */
export async function editGain(words: readonly string[], ws: number, len: number, original: string, correction: string, score: Scorer): Promise<{ delta: number; original: { logProb: number; tokens: number }; corrected: { logProb: number; tokens: number } }> {
  const { context, after } = neighbourhood(words, ws, len);
  const a = await score(context, textOf(original.trim(), after));
  const b = await score(context, textOf(correction.trim(), after));
  return { delta: b.logProb - a.logProb, original: a, corrected: b };
}
