// Splits lessons into retrieval units: one chunk per "##" section, long sections cut at
// paragraph boundaries. Each chunk carries the lesson title and tag words, so a section about
// examples still knows what it is about.
import type { LessonRecord } from "../store/types.js";
import { tagTerms } from "./text.js";

export interface Chunk {
  lessonId: string;
  index: number;
  /** The text shown to the analysis (section text). */
  text: string;
  /** The text indexed: title, tag words and section text. */
  indexText: string;
}

export const MAX_CHUNK_WORDS = 160;

export function chunkLesson(l: LessonRecord, maxWords = MAX_CHUNK_WORDS): Chunk[] {
  const sections = l.body.split(/\n(?=##\s)/).map((s) => s.trim()).filter(Boolean);
  const pieces: string[] = [];
  for (const s of sections) {
    let cur: string[] = [];
    let words = 0;
    for (const para of s.split(/\n\s*\n/)) {
      const n = para.split(/\s+/).length;
      if (words > 0 && words + n > maxWords) {
        pieces.push(cur.join("\n\n"));
        cur = [];
        words = 0;
      }
      cur.push(para);
      words += n;
    }
    if (cur.length) pieces.push(cur.join("\n\n"));
  }
  if (pieces.length === 0) pieces.push(l.body);
  // Title twice: it is the densest statement of what the lesson teaches.
  const head = `${l.title}\n${l.title}\n${l.tags.map(tagTerms).join(" ")}`;
  return pieces.map((text, index) => ({ lessonId: l.id, index, text, indexText: `${head}\n${text}` }));
}
