// Word normalisation and joining, shared by the speech stream (agreement, seam dedupe, loop cut,
// hallucination phrases, committed text) and the analysis (metrics, vocabulary, span checks), so
// every part counts the same "word" for the same token and the report's offsets index the text
// the client was sent.

/**
 * Lower-case, curly quotes folded, punctuation around the word stripped; inner apostrophes,
 * hyphens and dots kept ("don't", "well-known", "amara.org"). Idempotent.
 */
export function normalizeWord(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
}

export interface TranscriptText {
  text: string;
  /** Character offsets of each word inside `text` (same order as the words). */
  offsets: { start: number; end: number }[];
}

/** A token that opens with one of these belongs to the word before it: no space in between. */
const ATTACHES = /^[,.!?;:]/;

/** Joins words into text: one space between words, none before attached punctuation. */
export function joinWords(words: readonly { word: string }[]): TranscriptText {
  let text = "";
  const offsets: { start: number; end: number }[] = [];
  for (const w of words) {
    const token = w.word.trim();
    if (text.length > 0 && token.length > 0 && !ATTACHES.test(token)) text += " ";
    const start = text.length;
    text += token;
    offsets.push({ start, end: text.length });
  }
  return { text, offsets };
}
