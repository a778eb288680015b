// Word normalisation shared by the metrics, the vocabulary profile and the span post-checks, so
// every part of the report counts the same "word" for the same transcript token.
import type { Word } from "../protocol/messages.js";

/** Lower-case, curly quotes folded, surrounding punctuation stripped; inner apostrophes/hyphens kept. */
export function normalizeWord(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/^[^\p{L}\p{N}']+|[^\p{L}\p{N}']+$/gu, "")
    .replace(/^'+|'+$/g, "");
}

/** True when the raw token carries a clause break after it (comma, dash, full stop...). */
export function endsWithBreak(raw: string): boolean {
  return /[,.;:!?\u2014\u2013-]["')\]]*$/.test(raw.trim());
}

export interface TranscriptText {
  text: string;
  /** Character offsets of each word inside `text` (same order as the words). */
  offsets: { start: number; end: number }[];
}

/** Joins committed words into the transcript text the report's character offsets refer to. */
export function joinWords(words: readonly Pick<Word, "word">[]): TranscriptText {
  let text = "";
  const offsets: { start: number; end: number }[] = [];
  for (const w of words) {
    const token = w.word.trim();
    if (text.length > 0 && token.length > 0) text += " ";
    const start = text.length;
    text += token;
    offsets.push({ start, end: text.length });
  }
  return { text, offsets };
}
