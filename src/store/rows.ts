// Row -> record mapping, once for both dialects. They differ only in how a JSON column and a
// timestamp arrive (SQLite: JSON text and ISO text; PostgreSQL: parsed JSONB and Date objects).
import type { JobRecord, JobStatus, LessonRecord, SegmentRecord, SessionRecord, SessionStatus } from "./types.js";

export type Row = Record<string, unknown>;

export interface Dialect {
  /** A JSON column's value as the driver returns it. */
  json(v: unknown): unknown;
  /** A timestamp column's value, as ISO 8601 UTC. */
  time(v: unknown): string;
}

export function rowMappers(d: Dialect) {
  const timeOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : d.time(v));
  return {
    toSession: (r: Row): SessionRecord => ({
      id: r.id as string,
      subject: r.subject as string,
      config: d.json(r.config) as SessionRecord["config"],
      claims: d.json(r.claims) as Record<string, unknown>,
      status: r.status as SessionStatus,
      createdAt: d.time(r.created_at),
      endedAt: timeOrNull(r.ended_at),
      audioMs: Number(r.audio_ms),
    }),
    toSegment: (r: Row): SegmentRecord => ({
      sessionId: r.session_id as string,
      segmentId: Number(r.segment_id),
      text: r.text as string,
      start: Number(r.start_s),
      end: Number(r.end_s),
      words: d.json(r.words) as SegmentRecord["words"],
      createdAt: d.time(r.created_at),
    }),
    toJob: (r: Row): JobRecord => ({
      id: r.id as string,
      sessionId: r.session_id as string,
      scope: r.scope as JobRecord["scope"],
      segmentFrom: r.segment_from === null ? null : Number(r.segment_from),
      segmentTo: r.segment_to === null ? null : Number(r.segment_to),
      status: r.status as JobStatus,
      attempts: Number(r.attempts),
      lastError: (r.last_error as string | null) ?? null,
      runAfter: d.time(r.run_after),
      lockedBy: (r.locked_by as string | null) ?? null,
      createdAt: d.time(r.created_at),
      updatedAt: d.time(r.updated_at),
    }),
    toLesson: (r: Row): LessonRecord => ({
      id: r.id as string,
      title: r.title as string,
      level: (r.level as string | null) ?? null,
      tags: d.json(r.tags) as string[],
      body: r.body as string,
      url: (r.url as string | null) ?? null,
      contentHash: r.content_hash as string,
      updatedAt: d.time(r.updated_at),
    }),
  };
}
