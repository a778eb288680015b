// Pure pieces of the streaming policy: word normalisation, LocalAgreement-2, seam dedupe,
// repetition-loop cut and the hallucination / confidence guards. No state, no timers.
import { normalizeWord } from "../domain/words.js";
import { isHallucinatedPhrase } from "./hallucinations.js";
import type { TranscribedSegment } from "./types.js";

export { normalizeWord };

/** A word on the stream's timeline (seconds since the session's first sample). */
export interface StreamWord {
  word: string;
  start: number;
  end: number;
  probability: number;
}

/** LocalAgreement-2: how many leading words two consecutive hypotheses agree on. */
export function agreedPrefix(prev: StreamWord[], next: StreamWord[]): number {
  let i = 0;
  while (i < prev.length && i < next.length && normalizeWord(prev[i]!.word) === normalizeWord(next[i]!.word)) i++;
  return i;
}

/**
 * What a partial decode commits. `agreed`: the words the last `agreement - 1` hypotheses and this
 * one agree on (LocalAgreement-n; agreement < 2: none). `window`: when the window is full
 * (`fullWindowEndSec` set), also every word ending more than a second before its end, which the
 * next window (starting at the last commit) would not hear in full. Words [0, window) are
 * committed; `prevHyps` is what the next decode is compared with.
 */
export function partialCommits(
  hyp: StreamWord[],
  prevHyps: StreamWord[][],
  agreement: number,
  fullWindowEndSec: number | null,
): { agreed: number; window: number; prevHyps: StreamWord[][] } {
  const need = agreement - 1;
  const agreed = need >= 1 && prevHyps.length >= need ? Math.min(...prevHyps.map((p) => agreedPrefix(p, hyp))) : 0;
  let window = agreed;
  if (fullWindowEndSec !== null) while (window < hyp.length && hyp[window]!.end <= fullWindowEndSec - 1.0) window++;
  const next = need >= 1 ? [...prevHyps.map((p) => p.slice(window)), hyp.slice(window)].slice(-need) : [];
  return { agreed, window, prevHyps: next };
}

/**
 * Drops words at the start of a new hypothesis that repeat the end of what is already committed:
 * the window is cut at a word boundary Whisper only estimated, so the last committed word is often
 * heard again. Only words starting near the seam are candidates.
 */
export function dedupeSeam(committedTail: StreamWord[], hyp: StreamWord[], seamSec: number, toleranceSec = 1.0): StreamWord[] {
  const maxN = Math.min(5, committedTail.length, hyp.length);
  for (let n = maxN; n >= 1; n--) {
    if (hyp[0]!.start > seamSec + toleranceSec) break;
    let same = true;
    for (let k = 0; k < n && same; k++) {
      same = normalizeWord(committedTail[committedTail.length - n + k]!.word) === normalizeWord(hyp[k]!.word);
    }
    if (same) return hyp.slice(n);
  }
  // Words that end before the seam were already heard and committed.
  let i = 0;
  while (i < hyp.length && hyp[i]!.end <= seamSec - 0.05) i++;
  return hyp.slice(i);
}

/**
 * Cuts a decoding loop: an n-gram repeated back to back (1-word runs of 4+, longer n-grams 3+
 * times) keeps its first occurrence and everything after it is dropped (a loop does not recover
 * within a window). A phrase of ECHO_MIN_WORDS or more said twice in a row is an echo: with the
 * encoder window cut to the audio, Whisper often repeats a whole short utterance once more
 * (measured with real tiny.en: "I'm from the cutter lying off the coast." twice and a half in 2.1 s).
 * Its copies, and a trailing unfinished copy, are dropped; what follows them is kept. Learners'
 * own repetitions are shorter ("I, I go", "to the, to the"), so they stay.
 * Returns the kept words and whether anything was cut.
 */
export const ECHO_MIN_WORDS = 4;

/** A piece repeated this many times inside one hyphenated word is a loop ("jur-jur-jur-jur-..."). */
export const HYPHEN_LOOP_PIECES = 4;

/**
 * The same loop inside one word: Whisper can spell a stutter as one hyphenated token that never
 * ends ("jur-jur-jur-...", "T-O-O-O-O-..."; 3 of 630 real learner outputs did). The word keeps
 * its pieces up to the first of the run; later words are dropped, as for any loop.
 */
function cutHyphenLoop(words: StreamWord[]): { words: StreamWord[]; cut: boolean } | null {
  for (let i = 0; i < words.length; i++) {
    const pieces = words[i]!.word.split("-");
    if (pieces.length < HYPHEN_LOOP_PIECES) continue;
    const norm = pieces.map(normalizeWord);
    for (let k = 0; k + HYPHEN_LOOP_PIECES <= norm.length; k++) {
      if (!norm[k]) continue;
      let reps = 1;
      while (k + reps < norm.length && norm[k + reps] === norm[k]) reps++;
      if (reps >= HYPHEN_LOOP_PIECES) return { words: [...words.slice(0, i), { ...words[i]!, word: pieces.slice(0, k + 1).join("-") }], cut: true };
    }
  }
  return null;
}

export function cutRepetition(words: StreamWord[]): { words: StreamWord[]; cut: boolean } {
  const inWord = cutHyphenLoop(words);
  if (inWord) return { words: cutRepetition(inWord.words).words, cut: true };
  const norm = words.map((w) => normalizeWord(w.word));
  const same = (a: number, b: number, n: number) => {
    for (let k = 0; k < n; k++) if (norm[a + k] !== norm[b + k]) return false;
    return true;
  };
  for (let i = 0; i < norm.length; i++) {
    for (let n = 1; n <= 8 && i + n <= norm.length; n++) {
      const needed = n === 1 ? 4 : 3;
      let reps = 1;
      while (i + (reps + 1) * n <= norm.length && same(i, i + reps * n, n)) reps++;
      if (reps >= needed) return { words: words.slice(0, i + n), cut: true };
    }
  }
  for (let i = 0; i < norm.length; i++) {
    for (let n = ECHO_MIN_WORDS; i + 2 * n <= norm.length; n++) {
      if (!same(i, i + n, n)) continue;
      let j = i + 2 * n;
      while (j + n <= norm.length && same(i, j, n)) j += n;
      // An unfinished copy at the very end ("... coast. I'm from the cutter") goes too.
      const rest = norm.length - j;
      const tailIsCopy = rest > 0 && rest < n && same(i, j, rest);
      const kept = [...words.slice(0, i + n), ...(tailIsCopy ? [] : words.slice(j))];
      return { words: cutRepetition(kept).words, cut: true };
    }
  }
  return { words, cut: false };
}

export interface GuardOptions {
  /** Segments whose mean token log-probability is below this are dropped (-Infinity: off). */
  logprobThreshold: number;
  /** Whisper's rule: no-speech probability above this AND mean log-probability below noSpeechLogprobThreshold = silence. */
  noSpeechThreshold: number;
  noSpeechLogprobThreshold: number;
  /** Drop known silence hallucinations ("Thanks for watching"...). */
  suppressHallucinations: boolean;
}

/**
 * Decoder prompts that ask for verbatim transcription. Whisper follows the style of its prompt:
 * prompted with fluent text it tidies speech up (drops "um", fixes "I goes"), which would hide
 * exactly what a learner's report is about. Written for parlance, in a learner's voice, and longer
 * than the prompt budget, so every prompt is as long as the budget from the first decode on: the
 * committed tail replaces it word by word, and the decode cost stays level along a stream.
 */
export const VERBATIM_PROMPTS: Readonly<Record<string, string>> = {
  en:
    "Um, so, uh, I want to tell about my weekend. I goes to the, the market with my friend and we buyed some, um, vegetables. " +
    "It was, like, very nice day. Er, then we go home and, you know, we was cooking the dinner together and I, I cut the onion.",
};

export function isHallucination(text: string): boolean {
  const t = text.trim();
  if (!t) return true;
  // [BLANK_AUDIO], (music), *applause*, ♪ ...: non-speech annotations
  if (/^[[(*♪].*[\])*♪]$/u.test(t) || /^[♪\s.…-]+$/u.test(t)) return true;
  return t.split(/\s+/).every((w) => normalizeWord(w) === "") || isHallucinatedPhrase(t);
}

export type GuardVerdict = "ok" | "low_logprob" | "no_speech" | "hallucination";

export function judgeSegment(s: TranscribedSegment, g: GuardOptions): GuardVerdict {
  if (g.suppressHallucinations && isHallucination(s.text)) return "hallucination";
  if (s.noSpeechProb !== null && s.noSpeechProb > g.noSpeechThreshold && (s.avgLogprob === null || s.avgLogprob < g.noSpeechLogprobThreshold)) return "no_speech";
  if (s.avgLogprob !== null && s.avgLogprob < g.logprobThreshold) return "low_logprob";
  return "ok";
}

