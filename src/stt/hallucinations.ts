// What Whisper writes on silence or noise (its YouTube-subtitle training data), in the spelling it
// uses. The stream drops a segment that is exactly one of these; the analysis's quality gate calls
// a transcript made of one of them "not speech". Real learners rarely say exactly these alone.
import { normalizeWord } from "../domain/words.js";

const PHRASES = [
  "Thanks for watching",
  "Thank you for watching",
  "Thanks for watching and see you next time",
  "Thank you so much for watching",
  "Please subscribe",
  "Please like and subscribe",
  "Like and subscribe",
  "Subscribe to my channel",
  "Subtitles by the Amara.org community",
  "Subtitles by",
  "Transcribed by",
  "See you next time",
  "See you in the next video",
  "You",
  "Bye",
  "Thank you",
  "So",
  "The end",
];

/** Normalised words joined by single spaces: how a phrase is compared. */
export function phraseKey(text: string): string {
  return text.split(/\s+/).map(normalizeWord).filter(Boolean).join(" ");
}

const KEYS = new Set(PHRASES.map(phraseKey));

/** The whole text is one of Whisper's silence phrases (case and punctuation ignored). */
export function isHallucinatedPhrase(text: string): boolean {
  return KEYS.has(phraseKey(text));
}
