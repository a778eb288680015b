// The persistence seam: one Repository interface, implemented by SQLite (embedded default) and
// PostgreSQL (shared by several gateway/worker processes). Every method is async so both fit.
import type { CommittedSegment } from "../domain/segment.js";
import type { StreamConfig, Word } from "../protocol/messages.js";
import type { Report } from "../protocol/report.js";

export type SessionStatus = "streaming" | "ended" | "interrupted" | "deleted";

export interface SessionRecord {
  id: string;
  subject: string;
  config: StreamConfig;
  /** Verified claims kept for the analysis (level, locale, scopes); never the token. */
  claims: Record<string, unknown>;
  status: SessionStatus;
  createdAt: string; // ISO 8601
  endedAt: string | null;
  audioMs: number;
}

/** A committed segment as stored: the domain's CommittedSegment plus whose and when. */
export interface SegmentRecord extends CommittedSegment {
  sessionId: string;
  createdAt: string;
}

export type JobStatus = "pending" | "running" | "done" | "failed";

export interface JobRecord {
  id: string;
  sessionId: string;
  scope: "session" | "utterance";
  /** For utterance jobs: the segment ids covered [from, to]. */
  segmentFrom: number | null;
  segmentTo: number | null;
  status: JobStatus;
  attempts: number;
  lastError: string | null;
  runAfter: string; // ISO; the job is not claimed before this time (retry backoff)
  lockedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface LessonRecord {
  id: string;
  title: string;
  level: string | null;
  tags: string[];
  body: string;
  url: string | null;
  contentHash: string;
  updatedAt: string;
}

export interface Repository {
  readonly kind: "sqlite" | "postgres";
  /** Creates or upgrades the schema (idempotent, versioned migrations). */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createSession(s: Omit<SessionRecord, "endedAt" | "audioMs" | "status"> & { status?: SessionStatus }): Promise<void>;
  updateSession(id: string, patch: Partial<Pick<SessionRecord, "status" | "endedAt" | "audioMs">>): Promise<void>;
  getSession(id: string): Promise<SessionRecord | null>;
  /** Newest first. */
  listSessions(subject: string, opts?: { limit?: number; before?: string }): Promise<SessionRecord[]>;
  /** Removes the session with its segments, jobs, reports and audio (right to erasure). */
  deleteSession(id: string): Promise<boolean>;
  /**
   * Ids of sessions in `status`, oldest first (start-up recovery looks for `streaming` ones);
   * `createdBefore` keeps only older sessions (with several gateways, a `streaming` session older
   * than the longest allowed session cannot be live on any of them).
   */
  listSessionIdsByStatus(status: SessionStatus, limit?: number, createdBefore?: Date): Promise<string[]>;
  /** Sessions left `streaming` by a crash (no live socket holds them any more). */
  markInterrupted(sessionIds?: string[]): Promise<number>;

  /** Idempotent on (sessionId, segmentId): a retried write does not duplicate. */
  appendSegment(seg: Omit<SegmentRecord, "createdAt">): Promise<void>;
  getSegments(sessionId: string): Promise<SegmentRecord[]>;

  createJob(job: Pick<JobRecord, "id" | "sessionId" | "scope" | "segmentFrom" | "segmentTo">): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | null>;
  listJobs(sessionId: string): Promise<JobRecord[]>;
  /** Atomically moves up to `limit` due pending jobs to running, locked by `workerId`. */
  claimDueJobs(workerId: string, limit: number, now?: Date): Promise<JobRecord[]>;
  /**
   * Claims one job by id, for runners that schedule elsewhere (BullMQ): pending, or running (an
   * attempt whose runner died; the queue's own lock says nobody holds it now), becomes running,
   * locked by `workerId`, attempts + 1. `runAfter` is not checked: the scheduler decides when.
   * Null when the job is done, failed or gone.
   */
  claimJob(id: string, workerId: string): Promise<JobRecord | null>;
  /** Jobs in `status`, oldest first (the queue sweeper re-schedules pending and stale running ones). */
  listJobsByStatus(status: JobStatus, limit?: number): Promise<JobRecord[]>;
  /** Back to pending at `runAfter` (retry), or failed for good when runAfter is null. */
  failJob(id: string, error: string, runAfter: Date | null): Promise<void>;
  /** Stores the report and marks the job done, in one transaction. */
  completeJob(id: string, report: Report): Promise<void>;
  /** Jobs left running by a dead process go back to pending (crash recovery at start-up). */
  requeueRunningJobs(workerId?: string): Promise<number>;
  /**
   * Pending jobs waiting out a retry back-off become due now. Called at start-up: a restart is
   * usually how an operator fixes the LLM, so waiting out a back-off set by the old process helps nobody.
   */
  resumeWaitingJobs(): Promise<number>;
  countJobs(status: JobStatus): Promise<number>;

  /** The newest session-scope report, or the newest utterance report if there is none. */
  getReport(sessionId: string): Promise<{ jobId: string; report: Report } | null>;
  listReports(sessionId: string): Promise<{ jobId: string; report: Report }[]>;

  /** Raw audio, only when store.keepAudio is on. */
  appendAudio(sessionId: string, seq: number, pcm16k: Buffer): Promise<void>;
  getAudio(sessionId: string): Promise<Buffer | null>;
  purgeAudio(olderThan: Date): Promise<number>;

  upsertLesson(l: Omit<LessonRecord, "updatedAt">): Promise<"inserted" | "updated" | "unchanged">;
  getLesson(id: string): Promise<LessonRecord | null>;
  listLessons(): Promise<LessonRecord[]>;
  deleteLessonsNotIn(ids: string[]): Promise<number>;
}
