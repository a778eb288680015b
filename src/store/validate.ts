// Zod checks at the repository boundary, shared by both implementations so SQLite and PostgreSQL
// accept and reject exactly the same records.
import { z } from "zod";
import { StreamConfig, Word } from "../protocol/messages.js";
import { Report } from "../protocol/report.js";
import { CorruptRecordError, InvalidRecordError } from "./errors.js";

const id = z.string().min(1).max(200);
// Normalised to UTC `toISOString()` form: SQLite compares these as text.
const iso = z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString());
const status = z.enum(["streaming", "ended", "interrupted", "deleted"]);

export const NewSession = z.object({
  id,
  subject: z.string().min(1).max(500),
  config: StreamConfig,
  claims: z.record(z.string(), z.unknown()),
  createdAt: iso,
  status: status.optional(),
});

export const SessionPatch = z.object({
  status: status.optional(),
  endedAt: iso.nullable().optional(),
  audioMs: z.number().int().nonnegative().optional(),
});

export const NewSegment = z.object({
  sessionId: id,
  segmentId: z.number().int().nonnegative(),
  text: z.string(),
  start: z.number(),
  end: z.number(),
  words: z.array(Word),
});

export const NewJob = z.object({
  id,
  sessionId: id,
  scope: z.enum(["session", "utterance"]),
  segmentFrom: z.number().int().nonnegative().nullable(),
  segmentTo: z.number().int().nonnegative().nullable(),
});

export const NewLesson = z.object({
  id,
  title: z.string().min(1),
  level: z.string().nullable(),
  tags: z.array(z.string()),
  body: z.string(),
  url: z.string().nullable(),
  contentHash: z.string().min(1),
});

export { Report };

/** Parses or throws InvalidRecordError naming the record kind and the first problems. */
export function check<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new InvalidRecordError(`invalid ${what}: ${issues.join("; ")}`, { cause: r.error });
  }
  return r.data;
}

/**
 * A report row read back: parsed with the same schema that admitted it, so a row edited by hand
 * or written by an incompatible version is a typed error naming the job, never a Report that
 * is not one. `stored` is the column as the driver returns it (SQLite text, PostgreSQL JSONB).
 */
export function storedReport(jobId: string, stored: unknown): { jobId: string; report: Report } {
  let value = stored;
  if (typeof stored === "string") {
    try {
      value = JSON.parse(stored);
    } catch (e) {
      throw new CorruptRecordError(`stored report of job ${jobId} is not JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  const r = Report.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new CorruptRecordError(`stored report of job ${jobId} does not fit the report schema: ${issues.join("; ")}`, { cause: r.error });
  }
  return { jobId, report: r.data };
}

export const clampLimit = (limit: number | undefined, dflt: number, max: number) =>
  Math.max(1, Math.min(max, Math.floor(limit ?? dflt)));

/** Normalises a `before` cursor the same way stored timestamps are. */
export function isoCursor(v: string): string {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidRecordError(`invalid timestamp cursor: ${v}`);
  return d.toISOString();
}
