// Token -> word assembly shared by the engines.
import type { TranscribedWord } from "./types.js";

export interface TimedToken {
  text: string;
  /** Seconds relative to the request's audio start; NaN when the engine does not say. */
  start: number;
  end: number;
  p: number;
}

/** Special tokens ([_BEG_], [_TT_123], <|endoftext|>) carry no text. */
export function isSpecialToken(text: string): boolean {
  return /^\[_[^\]]*\]$/.test(text) || /^<\|.*\|>$/.test(text);
}

/**
 * Groups BPE tokens into words (a token starting with a space starts a word), clamps times into
 * [segStart, segEnd] and keeps them monotonic (random or confused models emit timestamps past the
 * audio), and scores each word by the mean probability of its tokens.
 */
export function tokensToWords(tokens: TimedToken[], segStart: number, segEnd: number): TranscribedWord[] {
  const groups: TimedToken[][] = [];
  for (const t of tokens) {
    if (isSpecialToken(t.text) || t.text.length === 0) continue;
    if (groups.length === 0 || /^\s/.test(t.text)) groups.push([t]);
    else groups[groups.length - 1]!.push(t);
  }
  const words: TranscribedWord[] = [];
  let cursor = segStart;
  const n = groups.length;
  groups.forEach((g, i) => {
    const word = g.map((t) => t.text).join("").trim();
    if (!word) return;
    // Evenly spread fallback when token times are missing.
    const evenStart = segStart + ((segEnd - segStart) * i) / n;
    const evenEnd = segStart + ((segEnd - segStart) * (i + 1)) / n;
    let start = Number.isFinite(g[0]!.start) ? g[0]!.start : evenStart;
    let end = Number.isFinite(g[g.length - 1]!.end) ? g[g.length - 1]!.end : evenEnd;
    start = Math.min(Math.max(start, cursor), segEnd);
    end = Math.min(Math.max(end, start), segEnd);
    cursor = start;
    const probability = g.reduce((s, t) => s + t.p, 0) / g.length;
    words.push({ word, start, end, probability: Math.min(1, Math.max(0, probability)) });
  });
  return words;
}

export function meanLogprob(tokens: TimedToken[]): number | null {
  const text = tokens.filter((t) => !isSpecialToken(t.text));
  if (text.length === 0) return null;
  return text.reduce((s, t) => s + Math.log(Math.max(t.p, 1e-10)), 0) / text.length;
}
