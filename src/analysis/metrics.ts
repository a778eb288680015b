// Deterministic fluency metrics from committed word timings (no LLM). Every threshold is a named
// constant so the report can be explained and the tests can compute answers by hand.
import type { Word } from "../protocol/messages.js";
import type { FluencyMetrics } from "../protocol/report.js";
import { endsWithBreak, normalizeWord } from "./text.js";

/** Silent pauses shorter than this are ordinary articulation gaps (common cut-off in fluency research). */
export const PAUSE_MIN_S = 0.25;
export const LONG_PAUSE_S = 1.0;
/** MTLD's factor threshold (McCarthy & Jarvis 2010). */
export const MTLD_TTR_THRESHOLD = 0.72;
/** Below this many tokens MTLD says nothing useful, so it is reported as null. */
export const MTLD_MIN_TOKENS = 10;

/** Hesitation sounds: always fillers. */
const FILLER_SOUNDS = new Set(["um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "eh", "hmm", "mm", "mhm"]);
/** Discourse markers that are fillers only when set off by a pause or a comma (otherwise "I like tea"). */
const FILLER_MARKERS: readonly string[][] = [["you", "know"], ["i", "mean"], ["like"], ["sort", "of"], ["kind", "of"]];
/** Editing terms that announce a repair: "I go, sorry, I went". */
const EDIT_TERMS = new Set(["sorry", "no", "i mean"]);

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

interface Tok {
  norm: string;
  raw: string;
  start: number;
  end: number;
  /** Gap (s) before the next word; Infinity after the last one. */
  gapAfter: number;
  gapBefore: number;
  /** Index of the word this token came from (tokens skip punctuation-only words). */
  wi: number;
}

function toks(words: readonly Word[]): Tok[] {
  const out: Tok[] = [];
  words.forEach((w, i) => {
    const norm = normalizeWord(w.word);
    if (!norm) return;
    out.push({ norm, raw: w.word, start: w.start, end: w.end, gapAfter: Infinity, gapBefore: Infinity, wi: i });
  });
  for (let i = 0; i < out.length; i++) {
    const t = out[i]!;
    const next = out[i + 1];
    const prev = out[i - 1];
    t.gapAfter = next ? Math.max(0, next.start - t.end) : Infinity;
    t.gapBefore = prev ? Math.max(0, t.start - prev.end) : Infinity;
  }
  return out;
}

export interface FillerSpan {
  index: number; // token index of the first word
  length: number; // tokens
  text: string;
}

/** Finds fillers; a marker counts when a pause/comma/edge sits before or after it. */
export function findFillers(words: readonly Word[]): FillerSpan[] {
  const t = toks(words);
  const out: FillerSpan[] = [];
  for (let i = 0; i < t.length; i++) {
    const cur = t[i]!;
    if (FILLER_SOUNDS.has(cur.norm)) {
      out.push({ index: i, length: 1, text: cur.norm });
      continue;
    }
    for (const m of FILLER_MARKERS) {
      if (i + m.length > t.length) continue;
      if (!m.every((w, k) => t[i + k]!.norm === w)) continue;
      const last = t[i + m.length - 1]!;
      const prev = t[i - 1];
      const setOffBefore = i === 0 || cur.gapBefore >= PAUSE_MIN_S || (prev !== undefined && endsWithBreak(prev.raw));
      const setOffAfter = i + m.length === t.length || last.gapAfter >= PAUSE_MIN_S || endsWithBreak(last.raw);
      // "I mean it" / "you know him" are content; a filler is bracketed by a break on at least one
      // side and is not the plain verb use ("I like tea" has no break around "like").
      if (setOffBefore || setOffAfter) {
        out.push({ index: i, length: m.length, text: m.join(" ") });
        i += m.length - 1;
        break;
      }
    }
  }
  return out;
}

export function lexicalTokens(words: readonly Word[]): string[] {
  const fillerIdx = new Set<number>();
  for (const f of findFillers(words)) for (let k = 0; k < f.length; k++) fillerIdx.add(f.index + k);
  return toks(words)
    .map((t, i) => (fillerIdx.has(i) ? "" : t.norm))
    .filter(Boolean);
}

/** One direction of MTLD: number of factors (partial factor for the remainder included). */
function mtldFactors(tokens: readonly string[]): number {
  let factors = 0;
  let types = new Set<string>();
  let count = 0;
  let ttr = 1;
  for (const tok of tokens) {
    count++;
    types.add(tok);
    ttr = types.size / count;
    if (ttr <= MTLD_TTR_THRESHOLD) {
      factors++;
      types = new Set();
      count = 0;
      ttr = 1;
    }
  }
  if (count > 0) factors += (1 - ttr) / (1 - MTLD_TTR_THRESHOLD);
  return factors;
}

/** MTLD, mean of the forward and backward passes; null below MTLD_MIN_TOKENS tokens. */
export function mtld(tokens: readonly string[]): number | null {
  if (tokens.length < MTLD_MIN_TOKENS) return null;
  // A text that never drops below the threshold has no factor: its MTLD is at least its length.
  const one = (ts: readonly string[]) => {
    const f = mtldFactors(ts);
    return f > 0 ? ts.length / f : ts.length;
  };
  return (one(tokens) + one([...tokens].reverse())) / 2;
}

/**
 * Repetitions: a word or two-word group said again immediately ("I I", "in the in the"),
 * fillers and pauses in between ignored. Self-corrections: a restart with a different word after
 * an editing term or a pause ("I go, sorry, I went" / "he go ... he goes").
 */
export function disfluencies(words: readonly Word[]): { repetitions: number; selfCorrections: number; indices: Set<number> } {
  const all = toks(words);
  const fillerIdx = new Set<number>();
  for (const f of findFillers(words)) for (let k = 0; k < f.length; k++) fillerIdx.add(f.index + k);
  // Keep the content tokens, remembering whether an editing cue (filler, edit term, pause) came before.
  // indices: the words these counts cover (fillers, editing terms, the first copy of a repetition,
  // the abandoned words of a restart), so the feedback gates do not report them as grammar again.
  const indices = new Set<number>(fillerIdx);
  const seq: { norm: string; cueBefore: boolean; at: number }[] = [];
  let cue = false;
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    const two = i + 1 < all.length ? `${t.norm} ${all[i + 1]!.norm}` : "";
    if (fillerIdx.has(i)) {
      cue = true;
      continue;
    }
    if (EDIT_TERMS.has(t.norm) && (t.gapAfter >= PAUSE_MIN_S || endsWithBreak(t.raw) || t.gapBefore >= PAUSE_MIN_S)) {
      cue = true;
      indices.add(i);
      continue;
    }
    if (EDIT_TERMS.has(two) && (endsWithBreak(all[i + 1]!.raw) || all[i + 1]!.gapAfter >= PAUSE_MIN_S)) {
      cue = true;
      indices.add(i).add(i + 1);
      i++;
      continue;
    }
    seq.push({ norm: t.norm, cueBefore: cue || t.gapBefore >= PAUSE_MIN_S, at: i });
    cue = false;
  }
  let repetitions = 0;
  let selfCorrections = 0;
  for (let i = 0; i < seq.length; i++) {
    const a = seq[i]!;
    const b = seq[i + 1];
    const c = seq[i + 2];
    const d = seq[i + 3];
    if (b && b.norm === a.norm) {
      repetitions++;
      indices.add(a.at);
      continue;
    }
    if (b && c && d && c.norm === a.norm && d.norm === b.norm && !(a.norm === b.norm)) {
      repetitions++;
      indices.add(a.at).add(b.at);
      i += 1; // "in the in the": count once, then resume after the repeat
      continue;
    }
    // A B <cue> A C with B != C: the speaker went back to A and replaced B.
    if (b && c && d && c.cueBefore && c.norm === a.norm && d.norm !== b.norm) {
      selfCorrections++;
      indices.add(a.at).add(b.at);
      i += 1;
    }
  }
  return { repetitions, selfCorrections, indices: new Set([...indices].map((k) => all[k]!.wi)) };
}

export function fluencyMetrics(words: readonly Word[]): FluencyMetrics {
  const t = toks(words);
  const wordCount = t.length;
  if (wordCount === 0) {
    return {
      word_count: 0,
      speaking_time_s: 0,
      words_per_minute: 0,
      articulation_rate_wpm: 0,
      pauses: { count: 0, mean_s: 0, longest_s: 0, over_1s: 0 },
      fillers: { count: 0, per_minute: 0, items: {} },
      repetitions: 0,
      self_corrections: 0,
      lexical_diversity: { mtld: null, ttr: null },
    };
  }
  const speaking = Math.max(0, t[wordCount - 1]!.end - t[0]!.start);
  const pauses = t.slice(0, -1).map((x) => x.gapAfter).filter((g) => g >= PAUSE_MIN_S);
  const pauseTotal = pauses.reduce((a, b) => a + b, 0);
  const phonation = speaking - pauseTotal;
  const fillers = findFillers(words);
  const items: Record<string, number> = {};
  for (const f of fillers) items[f.text] = (items[f.text] ?? 0) + 1;
  const lex = lexicalTokens(words);
  const { repetitions, selfCorrections } = disfluencies(words);
  const m = mtld(lex);
  return {
    word_count: wordCount,
    speaking_time_s: round(speaking),
    words_per_minute: speaking > 0 ? round((wordCount / speaking) * 60, 1) : 0,
    articulation_rate_wpm: phonation > 0 ? round((wordCount / phonation) * 60, 1) : 0,
    pauses: {
      count: pauses.length,
      mean_s: pauses.length ? round(pauseTotal / pauses.length) : 0,
      longest_s: pauses.length ? round(Math.max(...pauses)) : 0,
      over_1s: pauses.filter((p) => p > LONG_PAUSE_S).length,
    },
    fillers: { count: fillers.length, per_minute: speaking > 0 ? round((fillers.length / speaking) * 60, 1) : 0, items },
    repetitions,
    self_corrections: selfCorrections,
    lexical_diversity: { mtld: m === null ? null : round(m), ttr: lex.length ? round(new Set(lex).size / lex.length, 3) : null },
  };
}
