// The speaking-feedback report (protocol v1 `report` message and GET /v1/sessions/:id/report).
// Shared by the analysis chain (which validates LLM output against the LLM-facing part), the store
// and the client SDK, so it must not import anything Node-specific.
import { z } from "zod";

export const REPORT_SCHEMA_VERSION = "1.0";

export const ErrorType = z.enum([
  "tense",
  "agreement",
  "article",
  "preposition",
  "word_order",
  "plural",
  "word_choice",
  "collocation",
  "verb_form",
  "pronoun",
  "question_form",
  "negation",
  "spelling",
  "missing_word",
  "extra_word",
  "other",
  "recognition_uncertain",
]);
export type ErrorType = z.infer<typeof ErrorType>;

export const Severity = z.enum(["minor", "moderate", "major"]);
export const Cefr = z.enum(["A1", "A2", "B1", "B2", "C1", "C2"]);
export type Cefr = z.infer<typeof Cefr>;
export const Quality = z.enum(["ok", "partly_unreliable", "unusable"]);
export type Quality = z.infer<typeof Quality>;

export const ReportWord = z.object({
  word: z.string(),
  start: z.number(), // seconds from session start
  end: z.number(),
  confidence: z.number().min(0).max(1),
  uncertain: z.boolean(),
});
export type ReportWord = z.infer<typeof ReportWord>;

export const LanguageError = z.object({
  /** Character offsets into `transcript.text`; `transcript.text.slice(start, end) === original`. */
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  original: z.string(),
  correction: z.string(),
  type: ErrorType,
  explanation: z.string(),
  severity: Severity,
});
export type LanguageError = z.infer<typeof LanguageError>;

export const Resource = z.object({
  lesson_id: z.string(),
  title: z.string(),
  url: z.string().nullable(),
  level: z.string().nullable().optional(),
});
export type Resource = z.infer<typeof Resource>;

export const Recommendation = z.object({
  title: z.string(),
  reason: z.string(),
  focus: z.string().nullable().optional(), // error type or skill the recommendation addresses
  resources: z.array(Resource),
});
export type Recommendation = z.infer<typeof Recommendation>;

export const FluencyMetrics = z.object({
  word_count: z.number().int().nonnegative(),
  speaking_time_s: z.number().nonnegative(), // first word start to last word end
  words_per_minute: z.number().nonnegative(),
  articulation_rate_wpm: z.number().nonnegative(), // excluding pauses
  pauses: z.object({
    count: z.number().int().nonnegative(),
    mean_s: z.number().nonnegative(),
    longest_s: z.number().nonnegative(),
    over_1s: z.number().int().nonnegative(),
  }),
  fillers: z.object({ count: z.number().int().nonnegative(), per_minute: z.number().nonnegative(), items: z.record(z.string(), z.number()) }),
  repetitions: z.number().int().nonnegative(),
  self_corrections: z.number().int().nonnegative(),
  lexical_diversity: z.object({ mtld: z.number().nullable(), ttr: z.number().nullable() }),
});
export type FluencyMetrics = z.infer<typeof FluencyMetrics>;

export const VocabularyProfile = z.object({
  /** Share of known content words at each CEFR level (0..1); `unknown` for words off the list. */
  levels: z.record(z.string(), z.number()),
  counts: z.record(z.string(), z.number()),
  above_b1: z.array(z.string()),
  source: z.string(),
});
export type VocabularyProfile = z.infer<typeof VocabularyProfile>;

export const QualityDetail = z.object({
  word_count: z.number().int().nonnegative(),
  uncertain_words: z.number().int().nonnegative(),
  mean_confidence: z.number().nullable(),
  reasons: z.array(z.string()),
  advice: z.array(z.string()),
});

export const LlmStatus = z.enum(["ok", "repaired", "failed", "skipped", "pending"]);
export type LlmStatus = z.infer<typeof LlmStatus>;

export const Report = z.object({
  session_id: z.string(),
  created_at: z.string(),
  status: z.enum(["complete", "pending"]),
  llm_status: LlmStatus,
  language: z.string(),
  transcript: z.object({ text: z.string(), words: z.array(ReportWord) }),
  quality: Quality,
  quality_detail: QualityDetail,
  errors: z.array(LanguageError),
  strengths: z.array(z.string()),
  fluency: FluencyMetrics,
  vocabulary: VocabularyProfile,
  level: z.object({ cefr: Cefr.nullable(), evidence: z.array(z.string()) }),
  recommendations: z.array(Recommendation).max(3),
  message: z.string().nullable(), // human explanation, e.g. why a transcript was unusable
  versions: z.object({ model: z.string(), prompt: z.string(), schema: z.string() }),
});
export type Report = z.infer<typeof Report>;
