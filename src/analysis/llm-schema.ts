// The part of the report the LLM writes. Bounded strings and arrays so a grammar-constrained
// model must close the JSON; spans as word numbers (small models cannot count characters);
// numbers not .int() so an odd number fails the span post-check, not the whole answer.
import { z } from "zod";
import { Cefr, ErrorType, Severity } from "../protocol/report.js";

export const LLM_ERROR_TYPES = ErrorType.options.filter((t) => t !== "recognition_uncertain") as [string, ...string[]];

export const LlmError = z.object({
  word_start: z.number(),
  word_end: z.number(),
  original: z.string().max(60),
  correction: z.string().max(60),
  type: z.enum(LLM_ERROR_TYPES),
  explanation: z.string().max(160),
  severity: Severity,
});
export type LlmError = z.infer<typeof LlmError>;

export const LlmFeedback = z.object({
  errors: z.array(LlmError).max(6),
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
export type LlmFeedback = z.infer<typeof LlmFeedback>;
