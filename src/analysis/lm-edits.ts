// Grammar errors found by the model's likelihoods instead of its writing (embedded only): every
// candidate edit of the transcript (confusions.ts) is scored in context, and an edit is shown
// only when the model finds the corrected words clearly more likely than the learner's. The
// 0.5B default writes few real corrections (recall ~1 % on JFLEG, docs/bench-analysis.md) and
// most of a report's time is its writing; as a scorer it reads the transcript once and judges each
// candidate on ~10 tokens. Bryant & Briscoe (2018) measured this design with an n-gram model.
//
// Two steps, so that a 30 s answer's ~100 candidates cost little more than reading it:
// 1. screen: one pass over each block of the transcript scores every learner word and, where each
//    word starts, each candidate's first token after the words before it; a candidate far below
//    the learner's word is dropped without looking at the words after it.
// 2. verify: the rest are scored with the words that follow them, on the side sequence that
//    still holds the words before them: each costs its own ~6 tokens, and the learner's words
//    were scored by the screen pass (same context, same tokens). An edit is kept when its summed
//    gain reaches `minGain` and it is not less likely per token (the likelihood check the model's
//    own edits pass: a sum alone favours deletions).
import type { LlmError } from "./llm-schema.js";
import { confusions, type Candidate } from "./confusions.js";

export interface WordScorer {
  /** embedded.ts EmbeddedRuntime.scoreWords. */
  scoreWords(context: string, words: readonly string[], from?: number, alternatives?: readonly (readonly string[] | undefined)[]): Promise<{ word: number[]; tokens: number[]; alt: number[][] }>;
}

export interface LmEditOptions {
  /** Summed log-likelihood gain (nats) an edit needs over the learner's words. */
  minGain: number;
  /**
   * The gain needed by edits of these types between two real forms (tense, preposition, -ing or
   * participle): both are correct in many sentences, and a model's preference between them is often
   * style. An invented form ("buyed") needs only `minGain`.
   */
  choiceGain: number;
  choiceTypes: readonly Candidate["type"][];
  /** Screen: how far (nats) below the learner's word a candidate's first token may start. */
  screenSlack: number;
  /** At most this many edits per report (the most likely first). */
  maxEdits: number;
  /** Words after the span that are scored with it. */
  after: number;
  /** Words of context before a block's first word. */
  contextWords: number;
  /** Words screened in one pass (their candidates are verified before the next block). */
  block: number;
  /** At most this many candidates verified per word of a block, the best screened first: a bound on a long answer's time. */
  verifyPerWord: number;
  /**
   * At most about this many verified in all (spread over the blocks): an hour-long session must not
   * hold the one analysis slot for minutes (~70-130 ms per candidate on 2 cores).
   */
  maxVerified: number;
}

/**
 * Tuned on JFLEG (docs/bench-analysis.md, "Errors from likelihoods"): the gain at which edits
 * stop being mostly rewrites of correct words, and a screen that keeps the edits the full
 * scoring keeps on the tuning sample.
 */
export const LM_EDIT_DEFAULTS: LmEditOptions = { minGain: 4, choiceGain: 8, choiceTypes: ["tense", "preposition", "verb_form"], screenSlack: 2, maxEdits: 6, after: 4, contextWords: 10, block: 80, verifyPerWord: 0.5, maxVerified: 120 };
const CONTEXT = "Correct English:";

export interface LmEditResult {
  errors: LlmError[];
  candidates: number;
  screened: number;
  /** Every verified candidate with its gains (eval:feedback records them). */
  scored: { edit: string; at: number; delta: number; perToken: number; kept: boolean }[];
  /** Time of the screen passes and of the verification. */
  ms: { screen: number; verify: number };
}

/** The text whose first token starts the candidate: what the screen compares with the learner's word. */
function firstWord(c: Candidate, words: readonly string[]): string {
  return c.correction.split(" ")[0] || (words[c.at + c.len] ?? "");
}

/**
 * Candidates the left-to-right screen cannot judge are always verified: a deletion starts with
 * the next word, and "a"/"an" depends on the word after it.
 */
const unscreenable = (c: Candidate) => c.len > 1 || (c.original === "a" && c.correction === "an") || (c.original === "an" && c.correction === "a");

/** Keeps the learner's capital and trailing punctuation around a corrected span. */
function dress(raw: readonly string[], c: Candidate): string {
  const first = raw[c.at] ?? "";
  const last = raw[c.at + c.len - 1] ?? "";
  let out = c.correction;
  if (/^\p{Lu}/u.test(first)) out = out.charAt(0).toUpperCase() + out.slice(1);
  const tail = /[^\p{L}\p{N}']+$/u.exec(last)?.[0] ?? "";
  return out + tail;
}

/** The summed gain an edit needs (LmEditOptions.minGain, choiceGain). */
export function gainNeeded(c: Pick<Candidate, "type" | "invented">, opts: LmEditOptions = LM_EDIT_DEFAULTS): number {
  return !c.invented && opts.choiceTypes.includes(c.type) ? opts.choiceGain : opts.minGain;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const span = (xs: readonly number[], from: number, n: number) => xs.slice(from, from + n);

export async function likelihoodEdits(raw: readonly string[], skip: (i: number) => boolean, lm: WordScorer, opts: LmEditOptions = LM_EDIT_DEFAULTS, signal?: AbortSignal): Promise<LmEditResult> {
  const cands = confusions(raw, skip);
  const res: LmEditResult = { errors: [], candidates: cands.length, screened: 0, scored: [], ms: { screen: 0, verify: 0 } };
  const words = raw.map((w) => w.trim());
  const kept: { c: Candidate; delta: number }[] = [];
  const perWord = Math.min(opts.verifyPerWord, opts.maxVerified / Math.max(1, words.length));
  for (let bs = 0; bs < words.length && cands.length; bs += opts.block) {
    signal?.throwIfAborted();
    const be = Math.min(words.length, bs + opts.block);
    const inBlock = cands.filter((c) => c.at >= bs && c.at < be);
    if (!inBlock.length) continue;
    // One pass over the block (with its context and the words after it) scores every learner word
    // and every candidate's first token.
    const cs = Math.max(0, bs - opts.contextWords);
    // Up to `after` words past a two-word span that starts on the block's last word.
    const window = words.slice(cs, Math.min(words.length, be + 1 + opts.after));
    const alts = window.map(() => [] as string[]);
    for (const c of inBlock) alts[c.at - cs]!.push(firstWord(c, words));
    const t0 = performance.now();
    const s = await lm.scoreWords(CONTEXT, window, bs - cs, alts);
    const t1 = performance.now();
    res.ms.screen += t1 - t0;
    const seen = window.map(() => 0);
    const margin = new Map<Candidate, number>();
    for (const c of inBlock) margin.set(c, s.alt[c.at - cs]![seen[c.at - cs]!++]! - s.word[c.at - cs]!);
    const screen = (c: Candidate) => (unscreenable(c) ? Infinity : margin.get(c)!);
    const best = new Set(
      inBlock
        .filter((c) => screen(c) >= -opts.screenSlack)
        .sort((a, b) => screen(b) - screen(a))
        .slice(0, Math.ceil(perWord * (be - bs))),
    );
    res.screened += best.size;
    // In transcript order: each edit shares the evaluated words before it with the one before.
    for (const c of inBlock.filter((x) => best.has(x))) {
      signal?.throwIfAborted();
      const tail = words.slice(c.at + c.len, c.at + c.len + opts.after);
      const replacement = c.correction.split(" ").filter(Boolean);
      const v = await lm.scoreWords(CONTEXT, [...words.slice(cs, c.at), ...replacement, ...tail], c.at - cs);
      const orig = { logProb: sum(span(s.word, c.at - cs, c.len + tail.length)), tokens: sum(span(s.tokens, c.at - cs, c.len + tail.length)) };
      const corr = { logProb: sum(v.word.slice(c.at - cs)), tokens: sum(v.tokens.slice(c.at - cs)) };
      const delta = corr.logProb - orig.logProb;
      const perToken = corr.logProb / Math.max(1, corr.tokens) - orig.logProb / Math.max(1, orig.tokens);
      const ok = delta >= gainNeeded(c, opts) && perToken >= 0;
      res.scored.push({ edit: `${words.slice(c.at, c.at + c.len).join(" ")} -> ${c.correction}`, at: c.at, delta, perToken, kept: ok });
      if (ok) kept.push({ c, delta });
    }
    res.ms.verify += performance.now() - t1;
  }
  for (const { c } of pickEdits(kept, opts.maxEdits)) res.errors.push({ word_start: c.at, word_end: c.at + c.len - 1, original: raw.slice(c.at, c.at + c.len).join(" "), correction: dress(raw, c), type: c.type, explanation: c.explanation, severity: "moderate" });
  res.errors.sort((a, b) => a.word_start! - b.word_start!);
  return res;
}

/** The most likely edits first, no two on one word, at most `max` (bench/eval/rescore.ts replays it). */
export function pickEdits<T extends { c: { at: number; len: number }; delta: number }>(kept: readonly T[], max: number): T[] {
  const taken = new Set<number>();
  const out: T[] = [];
  for (const x of [...kept].sort((a, b) => b.delta - a.delta)) {
    const idx = Array.from({ length: x.c.len }, (_, k) => x.c.at + k);
    if (out.length >= max || idx.some((i) => taken.has(i))) continue;
    idx.forEach((i) => taken.add(i));
    out.push(x);
  }
  return out;
}
