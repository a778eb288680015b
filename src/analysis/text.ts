// Word helpers of the analysis. normalizeWord and joinWords are the domain's (src/domain/words.ts),
// so the report counts the same words the stream committed.
export { normalizeWord, joinWords, type TranscriptText } from "../domain/words.js";

/** True when the raw token carries a clause break after it (comma, dash, full stop...). */
export function endsWithBreak(raw: string): boolean {
  return /[,.;:!?\u2014\u2013-]["')\]]*$/.test(raw.trim());
}
