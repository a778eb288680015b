// What a lesson file may contain, validated once for every input format (Markdown front matter,
// JSON, YAML).
import { z } from "zod";
import { ErrorType } from "../protocol/report.js";

export class CurriculumError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CurriculumError";
  }
}

/** Skill tags beside the report's error types. */
export const SKILL_TAGS = ["fluency", "fillers", "pronunciation", "vocabulary", "grammar"] as const;
export const KNOWN_TAGS: ReadonlySet<string> = new Set<string>([...ErrorType.options, ...SKILL_TAGS]);

const tagList = z.preprocess(
  (v) => (typeof v === "string" ? v.split(",") : v),
  z.array(z.string().trim().toLowerCase().regex(/^[a-z0-9_-]+$/, "tags are words such as article or word_order").min(1)).default([]),
);

export const LessonInput = z
  .object({
    id: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "ids are 1-100 letters, digits, '.', '_' or '-'"),
    title: z.string().trim().min(1).max(200),
    level: z
      .preprocess((v) => (typeof v === "string" ? v.trim().toUpperCase() : v), z.enum(["A1", "A2", "B1", "B2", "C1", "C2"]))
      .nullable()
      .default(null),
    tags: tagList,
    body: z.string().trim().min(1, "a lesson needs a body"),
    // A path under the operator's lesson site ("/lessons/x") or an absolute http(s) URL the
    // operator wrote; nothing else, so a report can only link what the curriculum holds.
    url: z
      .string()
      .trim()
      .refine((u) => u.startsWith("/") || /^https?:\/\/[^\s]+$/.test(u), "url must start with / or http(s)://")
      .nullable()
      .default(null),
  })
  .strict();
export type LessonInput = z.infer<typeof LessonInput>;

/** CEFR levels in order, for "near the learner's level" comparisons. */
export const CEFR_ORDER = ["A1", "A2", "B1", "B2", "C1", "C2"];
