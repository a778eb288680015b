// The part of the report the LLM writes, one schema per prompt version. Bounded strings and arrays
// so a grammar-constrained model must close the JSON, and the longest answer fits in
// llm.maxOutputTokens (test/analysis/real-llm.test.ts tokenizes the largest one); numbers not
// .int() so an odd number fails the span post-check, not the whole answer.
import { z } from "zod";
import { Cefr, ErrorType, Severity } from "../protocol/report.js";

export const LLM_ERROR_TYPES = ErrorType.options.filter((t) => t !== "recognition_uncertain") as [string, ...string[]];
/** A transcript of speech has no spelling of its own: v2 does not offer the type at all. */
export const LLM_ERROR_TYPES_V2 = ErrorType.options.filter((t) => t !== "recognition_uncertain" && t !== "spelling") as [string, ...string[]];

/** feedback-v1: spans as word numbers of a numbered transcript. */
export const LlmErrorV1 = z.object({
  word_start: z.number(),
  word_end: z.number(),
  original: z.string().max(60),
  correction: z.string().max(60),
  type: z.enum(LLM_ERROR_TYPES),
  explanation: z.string().max(160),
  severity: Severity,
});

export const LlmFeedbackV1 = z.object({
  errors: z.array(LlmErrorV1).max(6),
  strengths: z.array(z.string().max(120)).max(3),
  level: z.object({ cefr: Cefr, evidence: z.array(z.string().max(120)).max(3) }),
  recommendations: z
    .array(
      z.object({
        title: z.string().max(60),
        reason: z.string().max(160),
        focus: z.string().max(30),
        lesson_ids: z.array(z.string().max(60)).max(2),
      }),
    )
    .max(3),
});

/**
 * feedback-v2: edit spans as the learner's own words (small models copy words better than they
 * count them; the code finds the span), errors first, short explanations, one level reason and
 * one strength. Recommendations are built in code from the errors and the curriculum, so the
 * model writes about a third of v1's output and cannot cite a lesson that does not exist.
 */
export const LlmErrorV2 = z.object({
  original: z.string().max(40),
  // The rule before the fix: small models that write the correction first often copy the original.
  explanation: z.string().max(80),
  correction: z.string().max(40),
  type: z.enum(LLM_ERROR_TYPES_V2),
  severity: Severity,
});

export const LlmFeedbackV2 = z.object({
  errors: z.array(LlmErrorV2).max(4),
  level: z.object({ cefr: Cefr, reason: z.string().max(80) }),
  strength: z.string().max(80),
});

/**
 * feedback-v3: v2 without the severity field (the code sets it), at most 3 errors, explanations
 * of at most 60 characters, a shorter level reason and strength: fewer output tokens, which is
 * most of a report's time on a CPU (docs/bench-analysis.md).
 */
export const LlmErrorV3 = z.object({
  original: z.string().max(40),
  explanation: z.string().max(60),
  correction: z.string().max(40),
  type: z.enum(LLM_ERROR_TYPES_V2),
});

export const LlmFeedbackV3 = z.object({
  errors: z.array(LlmErrorV3).max(3),
  level: z.object({ cefr: Cefr, reason: z.string().max(60) }),
  strength: z.string().max(60),
});

/**
 * feedback-v4: v2's fields and bounds, the level and strength written before the errors. An answer
 * can then be cut as soon as its errors go wrong (analysis/answer-cut.ts) and still carry a level
 * and a strength: the output tokens, most of a report's time on a CPU, stop with the last error
 * worth reading.
 */
export const LlmFeedbackV4 = z.object({
  level: LlmFeedbackV2.shape.level,
  strength: LlmFeedbackV2.shape.strength,
  errors: LlmFeedbackV2.shape.errors,
});

/**
 * feedback-v5: only the level and the strength. The grammar errors come from the model's
 * likelihoods over candidate edits (analysis/lm-edits.ts), not from its writing: the answer is
 * ~35 tokens, and the errors are the ones the model judges, not the ones it copies.
 */
export const LlmFeedbackV5 = z.object({
  level: LlmFeedbackV2.shape.level,
  strength: LlmFeedbackV2.shape.strength,
});

/** The severity v3 leaves to the code: the edits the gates keep are minimal, word-level ones. */
export const V3_SEVERITY = "moderate" as const;

/** What the post-checks work on, whatever the prompt version: a span hint only from v1. */
export interface LlmError {
  word_start?: number;
  word_end?: number;
  original: string;
  correction: string;
  type: string;
  explanation: string;
  severity: z.infer<typeof Severity>;
}

export interface LlmFeedback {
  errors: LlmError[];
  strengths: string[];
  level: { cefr: z.infer<typeof Cefr>; evidence: string[] };
  /** null: the prompt version leaves recommendations to the code (v2). */
  recommendations: { title: string; reason: string; focus: string; lesson_ids: string[] }[] | null;
}

/** Any version's validated answer in the one shape the analyzer merges. */
export function normalizeFeedback(value: unknown, version: "feedback-v1" | "feedback-v2" | "feedback-v3" | "feedback-v4" | "feedback-v5"): LlmFeedback {
  if (version === "feedback-v1") return value as z.infer<typeof LlmFeedbackV1>;
  const v = value as z.infer<typeof LlmFeedbackV2> | z.infer<typeof LlmFeedbackV3> | z.infer<typeof LlmFeedbackV5>;
  const errors: LlmError[] = "errors" in v ? v.errors.map((e) => ({ severity: V3_SEVERITY, ...e })) : [];
  return { errors, strengths: v.strength.trim() ? [v.strength] : [], level: { cefr: v.level.cefr, evidence: v.level.reason.trim() ? [v.level.reason] : [] }, recommendations: null };
}

/** Kept for callers that name the v1 schema by its old name. */
export const LlmFeedback = LlmFeedbackV1;
export const LlmError = LlmErrorV1;
