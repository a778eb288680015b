// Transcript quality gate: decides, before any LLM runs, whether the transcript can carry
// language feedback at all, and which words are too uncertain to be blamed on the learner.
import type { Word } from "../protocol/messages.js";
import type { Quality } from "../protocol/report.js";
import { isHallucinatedPhrase } from "../stt/hallucinations.js";
import { normalizeWord } from "./text.js";

export interface QualityOptions {
  /** Words whose confidence is below this are "uncertain" (config analysis.confidenceThreshold). */
  confidenceThreshold: number;
  /** Fewer words than this -> unusable (config analysis.minWords). */
  minWords: number;
}

/** Share of uncertain words at or above which nothing can be said about grammar. */
export const UNUSABLE_UNCERTAIN_SHARE = 0.5;
/** Share of uncertain words at or above which the report warns that parts are unreliable. */
export const PARTLY_UNRELIABLE_SHARE = 0.1;

export interface QualityResult {
  quality: Quality;
  uncertain: boolean[];
  detail: { word_count: number; uncertain_words: number; mean_confidence: number | null; reasons: string[]; advice: string[] };
}

export function assessQuality(words: readonly Word[], opts: QualityOptions): QualityResult {
  const real = words.filter((w) => normalizeWord(w.word) !== "");
  const uncertain = words.map((w) => normalizeWord(w.word) !== "" && w.confidence < opts.confidenceThreshold);
  const nUncertain = uncertain.filter(Boolean).length;
  const n = real.length;
  const mean = n ? real.reduce((a, w) => a + w.confidence, 0) / n : null;
  const reasons: string[] = [];
  const advice: string[] = [];
  let quality: Quality = "ok";
  const share = n ? nUncertain / n : 1;
  const text = real.map((w) => w.word).join(" ");

  if (n === 0) {
    quality = "unusable";
    reasons.push("no speech was recognised");
    advice.push("Check that the right microphone is selected and not muted, then speak closer to it.");
  } else if (isHallucinatedPhrase(text)) {
    // Whisper's usual inventions on silence or noise: a transcript made only of one is not speech.
    quality = "unusable";
    reasons.push("the recording sounds like silence or background noise");
    advice.push("Check that the right microphone is selected, then speak closer to it.");
  } else if (n < opts.minWords) {
    quality = "unusable";
    reasons.push(`the answer was too short to assess (${n} word${n === 1 ? "" : "s"}, at least ${opts.minWords} needed)`);
    advice.push("Give a longer answer: a few full sentences (about 30 seconds) give useful feedback.");
  } else if (share >= UNUSABLE_UNCERTAIN_SHARE) {
    quality = "unusable";
    reasons.push(`most words could not be recognised reliably (${nUncertain} of ${n})`);
    advice.push("Speak closer to the microphone, in a quieter place, and a little more slowly.");
  } else if (share >= PARTLY_UNRELIABLE_SHARE) {
    quality = "partly_unreliable";
    reasons.push(`${nUncertain} of ${n} words were recognised with low confidence; they are marked and not judged as grammar`);
    advice.push("For more precise feedback, speak closer to the microphone in a quieter place.");
  }
  return {
    quality,
    uncertain,
    detail: { word_count: n, uncertain_words: nUncertain, mean_confidence: mean === null ? null : Math.round(mean * 1000) / 1000, reasons, advice },
  };
}
