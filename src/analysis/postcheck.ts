// Edit-level gates between the LLM and the learner. Prompted LLMs over-correct, so every proposed
// error must pass checks in code before a learner sees it; each gate can be switched off so
// eval:feedback can measure what it costs in recall and buys in precision (docs/bench-analysis.md).
// Anything touching an uncertain word becomes "recognition_uncertain", so the learner is never
// blamed for a transcription error.
import type { LanguageError } from "../protocol/report.js";
import type { LlmError } from "./llm-schema.js";
import { edits } from "./eval-score.js";
import { normalizeWord, type TranscriptText } from "./text.js";

export const RECOGNITION_NOTE = "Possibly a pronunciation or recognition issue";

/**
 * span: the quoted words exist in the transcript (always on: an edit without a place cannot be shown).
 * differs: the correction is not the original. surface_only: not a punctuation- or case-only change
 * (a transcript's punctuation is the recogniser's, not the learner's). rewrite: a minimal edit,
 * not a rewritten phrase. disfluency: not just the removal of a filler, repetition or restart that
 * the fluency figures already count. uncertain: not a grammar error on a word the recogniser was
 * unsure of. one_per_span: no two edits on the same words. confused: when more than half of an
 * answer's proposals (at least 3) change nothing, the model is filling the list rather than
 * finding errors, and none of that answer's edits is shown.
 */
export const GATES = ["span", "differs", "surface_only", "rewrite", "disfluency", "uncertain", "one_per_span", "confused"] as const;
export type Gate = (typeof GATES)[number];
export const ALL_GATES: ReadonlySet<Gate> = new Set(GATES);

/** A correction that changes more than this many words of its span, or a span longer than MAX_SPAN_WORDS, is a rewrite. */
export const MAX_CHANGED_WORDS = 3;
export const MAX_SPAN_WORDS = 6;

const clean = (s: string) => s.replace(/\?\?/g, " ");
const normToks = (s: string) => clean(s).split(/\s+/).map(normalizeWord).filter(Boolean);
const norm = (s: string) => normToks(s).join(" ");
/** The same words, ignoring case, punctuation and uncertainty marks: an edit that changes nothing. */
export const sameWords = (a: string, b: string): boolean => norm(a) === norm(b);

/** Where the quoted words first occur in the words (normalised), or -1. */
export function findSpan(words: readonly { word: string }[], quoted: string): number {
  return occurrences(words.map((w) => normalizeWord(clean(w.word))), normToks(quoted))[0] ?? -1;
}

export interface PostCheckContext {
  words: readonly { word: string }[];
  transcript: TranscriptText;
  uncertain: readonly boolean[];
  /** Word indices the fluency metrics count as fillers, repetitions or abandoned restarts. */
  disfluent?: ReadonlySet<number>;
  /** Gates to apply (default: all). */
  gates?: ReadonlySet<Gate>;
  /**
   * The answer as the model wrote it, before the span-repair pass: the confused gate judges the
   * model's answer, not the repaired one (default: the errors checked).
   */
  asWritten?: readonly LlmError[];
}

export interface PostCheckResult {
  errors: LanguageError[];
  dropped: { error: LlmError; gate: Gate; reason: string }[];
}

/** Every place where `tokens` occur as consecutive words of the transcript. */
function occurrences(words: readonly string[], tokens: readonly string[]): number[] {
  const out: number[] = [];
  if (tokens.length === 0) return out;
  for (let i = 0; i + tokens.length <= words.length; i++) {
    let ok = true;
    for (let k = 0; k < tokens.length && ok; k++) ok = words[i + k] === tokens[k];
    if (ok) out.push(i);
  }
  return out;
}

/** The correction is the span plus the words that already follow it (or precede it) in the transcript. */
function repeatsContext(orig: readonly string[], corr: readonly string[], words: readonly string[], from: number, to: number): boolean {
  if (corr.length <= orig.length) return false;
  const k = corr.length - orig.length;
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const after = same(corr.slice(0, orig.length), orig) && same(corr.slice(orig.length), words.slice(to, to + k));
  const before = same(corr.slice(k), orig) && same(corr.slice(0, k), words.slice(Math.max(0, from - k), from)) && from >= k;
  return after || before;
}

/** More than half of an answer's proposals (at least 3) change nothing: the model is filling the list. */
export function isConfused(answer: readonly LlmError[]): boolean {
  const noops = answer.filter((e) => norm(e.original) === norm(e.correction)).length;
  return answer.length >= 3 && noops * 2 > answer.length;
}

export function postCheckErrors(llmErrors: readonly LlmError[], ctx: PostCheckContext): PostCheckResult {
  const gates = ctx.gates ?? ALL_GATES;
  const on = (g: Gate) => gates.has(g);
  const errors: (LanguageError & { ws: number; we: number })[] = [];
  const dropped: PostCheckResult["dropped"] = [];
  const n = ctx.words.length;
  const wordNorms = ctx.words.map((w) => normalizeWord(clean(w.word)));
  const taken = (ws: number, we: number) => errors.some((x) => ws <= x.we && we >= x.ws);
  const written = ctx.asWritten ?? llmErrors;
  const noops = written.filter((e) => norm(e.original) === norm(e.correction)).length;
  const confused = on("confused") && isConfused(written);
  for (const e of llmErrors) {
    const drop = (gate: Gate, reason: string) => dropped.push({ error: e, gate, reason });
    const origToks = normToks(e.original);
    // The span: the hinted word numbers when they hold the quoted words, else where the words occur
    // (the first place not already corrected: one edit per span).
    let ws = -1;
    const hinted = e.word_start !== undefined && e.word_end !== undefined && Number.isInteger(e.word_start) && Number.isInteger(e.word_end) && e.word_start >= 0 && e.word_end >= e.word_start && e.word_end < n;
    if (hinted && wordNorms.slice(e.word_start, e.word_end! + 1).join(" ") === origToks.join(" ")) ws = e.word_start!;
    else {
      const at = occurrences(wordNorms, origToks);
      ws = at.find((i) => !taken(i, i + origToks.length - 1)) ?? at[0] ?? -1;
    }
    if (ws < 0 || origToks.length === 0) {
      drop("span", "the quoted words are not in the transcript");
      continue;
    }
    const we = ws + origToks.length - 1;
    const corrToks = normToks(e.correction);
    if (on("differs") && e.correction.trim() === e.original.trim()) {
      drop("differs", "correction changes nothing");
      continue;
    }
    // "My brother" -> "My brother lives" where the transcript goes on "lives ...": the correction
    // only repeats the words around the span, so in context it changes nothing (seen with the
    // real 0.5B model on a correct sentence).
    if (on("differs") && repeatsContext(origToks, corrToks, wordNorms, ws, ws + origToks.length)) {
      drop("differs", "correction only repeats the words next to the span");
      continue;
    }
    if (on("surface_only") && corrToks.join(" ") === origToks.join(" ")) {
      drop("surface_only", "punctuation or case only");
      continue;
    }
    if (on("rewrite")) {
      let changed = 0;
      for (const ed of edits(origToks, corrToks)) {
        const [i, j, rep] = ed.split(":") as [string, string, string];
        changed += Math.max(Number(j) - Number(i), rep ? rep.split(" ").length : 0);
      }
      if (origToks.length > MAX_SPAN_WORDS || changed > MAX_CHANGED_WORDS) {
        drop("rewrite", "a rewrite, not a minimal edit");
        continue;
      }
    }
    if (on("disfluency") && ctx.disfluent?.size) {
      // Both sides without the span's disfluent words ("sorry ... er" kept or dropped alike): if
      // nothing else differs, the edit only tidies up speech the fluency figures already count.
      const dis = origToks.filter((_, k) => ctx.disfluent!.has(ws + k));
      const fluentPart = origToks.filter((_, k) => !ctx.disfluent!.has(ws + k)).join(" ");
      const left = [...dis];
      const corrFluent = corrToks.filter((t) => {
        const i = left.indexOf(t);
        if (i < 0) return true;
        left.splice(i, 1);
        return false;
      });
      if (fluentPart === "" || fluentPart === corrToks.join(" ") || fluentPart === corrFluent.join(" ")) {
        drop("disfluency", "only removes a filler, repetition or restart (counted in fluency)");
        continue;
      }
    }
    if (on("one_per_span") && taken(ws, we)) {
      drop("one_per_span", "overlaps an earlier error");
      continue;
    }
    if (confused) {
      drop("confused", `${noops} of ${written.length} proposals in this answer change nothing`);
      continue;
    }
    const start = ctx.transcript.offsets[ws]!.start;
    const end = ctx.transcript.offsets[we]!.end;
    const original = ctx.transcript.text.slice(start, end);
    const uncertain = on("uncertain") && ctx.uncertain.slice(ws, we + 1).some(Boolean);
    errors.push(
      uncertain
        ? {
            ws,
            we,
            start,
            end,
            original,
            correction: e.correction,
            type: "recognition_uncertain",
            explanation: `${RECOGNITION_NOTE}: "${original}" was not recognised clearly, so it is not counted as a grammar mistake. If you meant "${e.correction}", practise saying it clearly.`,
            severity: "minor",
          }
        : { ws, we, start, end, original, correction: e.correction, type: e.type as LanguageError["type"], explanation: e.explanation, severity: e.severity },
    );
  }
  return { errors: errors.sort((a, b) => a.start - b.start).map(({ ws: _ws, we: _we, ...rest }) => rest), dropped };
}
