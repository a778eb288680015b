// The embedded store: one SQLite file in the data dir, opened by better-sqlite3 in WAL mode.
//
// Durability: WAL with synchronous=NORMAL by default. In WAL mode NORMAL loses nothing when the
// process dies (SIGKILL, OOM, crash): a commit is in the WAL file before the call returns, and the
// OS keeps it. Only an OS crash or power cut may roll back the last commits (the file stays
// consistent). FULL closes that gap with an fsync per commit, but better-sqlite3 is synchronous,
// so the fsync blocks the event loop: measured 2.96 ms per appendSegment with FULL against
// 0.07 ms with NORMAL on this machine (docs/store.md). With dozens of live streams committing
// every second that is audible jitter, so FULL is an option (`synchronous: "FULL"`), not the default.
import { ensurePrivateDir, restrictFile, touchPrivateFile } from "../../util/private-files.js";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Logger } from "../../util/log.js";
import type { Report } from "../../protocol/report.js";
import type {
  JobRecord,
  JobStatus,
  LessonRecord,
  Repository,
  SegmentRecord,
  SessionRecord,
  SessionStatus,
} from "../types.js";
import { NotFoundError, StoreError } from "../errors.js";
import { check, clampLimit, isoCursor, NewJob, NewLesson, NewSegment, NewSession, Report as ReportSchema, SessionPatch, storedReport } from "../validate.js";
import { SQLITE_MIGRATIONS, type Migration } from "./migrations.js";

type Row = Record<string, unknown>;
const nowIso = () => new Date().toISOString();

function toSession(r: Row): SessionRecord {
  return {
    id: r.id as string,
    subject: r.subject as string,
    config: JSON.parse(r.config as string),
    claims: JSON.parse(r.claims as string),
    status: r.status as SessionStatus,
    createdAt: r.created_at as string,
    endedAt: (r.ended_at as string | null) ?? null,
    audioMs: Number(r.audio_ms),
  };
}

function toSegment(r: Row): SegmentRecord {
  return {
    sessionId: r.session_id as string,
    segmentId: Number(r.segment_id),
    text: r.text as string,
    start: Number(r.start_s),
    end: Number(r.end_s),
    words: JSON.parse(r.words as string),
    createdAt: r.created_at as string,
  };
}

function toJob(r: Row): JobRecord {
  return {
    id: r.id as string,
    sessionId: r.session_id as string,
    scope: r.scope as JobRecord["scope"],
    segmentFrom: r.segment_from === null ? null : Number(r.segment_from),
    segmentTo: r.segment_to === null ? null : Number(r.segment_to),
    status: r.status as JobStatus,
    attempts: Number(r.attempts),
    lastError: (r.last_error as string | null) ?? null,
    runAfter: r.run_after as string,
    lockedBy: (r.locked_by as string | null) ?? null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

function toLesson(r: Row): LessonRecord {
  return {
    id: r.id as string,
    title: r.title as string,
    level: (r.level as string | null) ?? null,
    tags: JSON.parse(r.tags as string),
    body: r.body as string,
    url: (r.url as string | null) ?? null,
    contentHash: r.content_hash as string,
    updatedAt: r.updated_at as string,
  };
}

export interface SqliteOptions {
  /** File path, or ":memory:" for a private throwaway database. */
  path: string;
  logger: Logger;
  /** How long a writer waits for another process's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** NORMAL (default: safe against process crashes) or FULL (also against power loss; ~3 ms/commit). */
  synchronous?: "NORMAL" | "FULL";
}

export class SqliteRepository implements Repository {
  readonly kind = "sqlite" as const;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly log: Logger;

  constructor(opts: SqliteOptions) {
    this.path = opts.path;
    this.log = opts.logger;
    const onDisk = opts.path !== ":memory:";
    try {
      // Transcripts are learners' personal data: the file and its WAL are the service user's only.
      // SQLite gives -wal and -shm the database file's mode.
      if (onDisk) {
        ensurePrivateDir(dirname(opts.path));
        touchPrivateFile(opts.path);
      }
      this.db = new Database(opts.path);
      this.db.pragma("journal_mode = WAL");
      if (onDisk) for (const f of [`${opts.path}-wal`, `${opts.path}-shm`]) restrictFile(f);
      this.db.pragma(`synchronous = ${opts.synchronous === "FULL" ? "FULL" : "NORMAL"}`);
      this.db.pragma("foreign_keys = ON");
      this.db.pragma(`busy_timeout = ${Math.floor(opts.busyTimeoutMs ?? 5000)}`);
    } catch (e) {
      throw new StoreError(`cannot open SQLite database ${opts.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  async migrate(): Promise<void> {
    this.migrateWith(SQLITE_MIGRATIONS);
  }

  /** Exposed for tests of the migration runner itself. */
  migrateWith(migrations: Migration[]): void {
    // IMMEDIATE takes the write lock first, so two processes starting together migrate once.
    const run = this.db.transaction(() => {
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
      );
      const done = new Set(
        (this.db.prepare("SELECT version FROM schema_migrations").all() as Row[]).map((r) => Number(r.version)),
      );
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, nowIso());
        this.log.info({ version: m.version, name: m.name }, "sqlite migration applied");
      }
    });
    run.immediate();
  }

  async schemaVersion(): Promise<number> {
    const r = this.db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as Row | undefined;
    return Number(r?.v ?? 0);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async createSession(s: Parameters<Repository["createSession"]>[0]): Promise<void> {
    const v = check(NewSession, s, "session");
    this.db
      .prepare(
        "INSERT INTO sessions (id, subject, config, claims, status, created_at, ended_at, audio_ms) VALUES (?, ?, ?, ?, ?, ?, NULL, 0)",
      )
      .run(v.id, v.subject, JSON.stringify(v.config), JSON.stringify(v.claims), v.status ?? "streaming", v.createdAt);
  }

  async updateSession(id: string, patch: Parameters<Repository["updateSession"]>[1]): Promise<void> {
    const p = check(SessionPatch, patch, "session patch");
    const sets: string[] = [];
    const args: unknown[] = [];
    if (p.status !== undefined) (sets.push("status = ?"), args.push(p.status));
    if (p.endedAt !== undefined) (sets.push("ended_at = ?"), args.push(p.endedAt));
    if (p.audioMs !== undefined) (sets.push("audio_ms = ?"), args.push(p.audioMs));
    if (sets.length === 0) return;
    const r = this.db.prepare(`UPDATE sessions SET ${sets.join(", ")} WHERE id = ?`).run(...args, id);
    if (r.changes === 0) throw new NotFoundError("session", id);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const r = this.db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as Row | undefined;
    return r ? toSession(r) : null;
  }

  async listSessions(subject: string, opts: { limit?: number; before?: string } = {}): Promise<SessionRecord[]> {
    const limit = clampLimit(opts.limit, 50, 500);
    const rows = (
      opts.before
        ? this.db
            .prepare(
              "SELECT * FROM sessions WHERE subject = ? AND status <> 'deleted' AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?",
            )
            .all(subject, isoCursor(opts.before), limit)
        : this.db
            .prepare("SELECT * FROM sessions WHERE subject = ? AND status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT ?")
            .all(subject, limit)
    ) as Row[];
    return rows.map(toSession);
  }

  async deleteSession(id: string): Promise<boolean> {
    // Segments, jobs, reports and audio go with it through ON DELETE CASCADE.
    return this.db.prepare("DELETE FROM sessions WHERE id = ?").run(id).changes > 0;
  }

  async listSessionIdsByStatus(status: SessionStatus, limit = 1000, createdBefore?: Date): Promise<string[]> {
    const n = clampLimit(limit, 1000, 10000);
    const rows = (
      createdBefore
        ? this.db
            .prepare("SELECT id FROM sessions WHERE status = ? AND created_at < ? ORDER BY created_at ASC, id ASC LIMIT ?")
            .all(status, createdBefore.toISOString(), n)
        : this.db.prepare("SELECT id FROM sessions WHERE status = ? ORDER BY created_at ASC, id ASC LIMIT ?").all(status, n)
    ) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async markInterrupted(sessionIds?: string[]): Promise<number> {
    const now = nowIso();
    if (sessionIds === undefined) {
      return this.db
        .prepare("UPDATE sessions SET status = 'interrupted', ended_at = COALESCE(ended_at, ?) WHERE status = 'streaming'")
        .run(now).changes;
    }
    if (sessionIds.length === 0) return 0;
    const stmt = this.db.prepare(
      "UPDATE sessions SET status = 'interrupted', ended_at = COALESCE(ended_at, ?) WHERE status = 'streaming' AND id = ?",
    );
    const tx = this.db.transaction((ids: string[]) => ids.reduce((n, id) => n + stmt.run(now, id).changes, 0));
    return tx(sessionIds);
  }

  async appendSegment(seg: Omit<SegmentRecord, "createdAt">): Promise<void> {
    const v = check(NewSegment, seg, "segment");
    try {
      // A retry of the same (session, segment) is a no-op: the first commit is the one the client saw.
      this.db
        .prepare(
          "INSERT INTO segments (session_id, segment_id, text, start_s, end_s, words, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, segment_id) DO NOTHING",
        )
        .run(v.sessionId, v.segmentId, v.text, v.start, v.end, JSON.stringify(v.words), nowIso());
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_FOREIGNKEY") throw new NotFoundError("session", v.sessionId);
      throw e;
    }
  }

  async getSegments(sessionId: string): Promise<SegmentRecord[]> {
    const rows = this.db.prepare("SELECT * FROM segments WHERE session_id = ? ORDER BY segment_id").all(sessionId) as Row[];
    return rows.map(toSegment);
  }

  async createJob(job: Parameters<Repository["createJob"]>[0]): Promise<JobRecord> {
    const v = check(NewJob, job, "job");
    const now = nowIso();
    try {
      this.db
        .prepare(
          "INSERT INTO jobs (id, session_id, scope, segment_from, segment_to, status, attempts, last_error, run_after, locked_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, NULL, ?, NULL, ?, ?)",
        )
        .run(v.id, v.sessionId, v.scope, v.segmentFrom, v.segmentTo, now, now, now);
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_FOREIGNKEY") throw new NotFoundError("session", v.sessionId);
      throw e;
    }
    return (await this.getJob(v.id))!;
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const r = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
    return r ? toJob(r) : null;
  }

  async listJobs(sessionId: string): Promise<JobRecord[]> {
    return (this.db.prepare("SELECT * FROM jobs WHERE session_id = ? ORDER BY created_at, id").all(sessionId) as Row[]).map(toJob);
  }

  async claimDueJobs(workerId: string, limit: number, now: Date = new Date()): Promise<JobRecord[]> {
    const n = clampLimit(limit, 1, 1000);
    const at = now.toISOString();
    const select = this.db.prepare(
      "SELECT id FROM jobs WHERE status = 'pending' AND run_after <= ? ORDER BY run_after, created_at, id LIMIT ?",
    );
    const update = this.db.prepare(
      "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
    );
    const get = this.db.prepare("SELECT * FROM jobs WHERE id = ?");
    // BEGIN IMMEDIATE holds SQLite's single write lock from the SELECT on, so no other
    // connection or process can claim the same rows in between.
    const tx = this.db.transaction(() => {
      const out: JobRecord[] = [];
      for (const r of select.all(at, n) as Row[]) {
        if (update.run(workerId, nowIso(), r.id).changes === 1) out.push(toJob(get.get(r.id) as Row));
      }
      return out;
    });
    return tx.immediate();
  }

  async claimJob(id: string, workerId: string): Promise<JobRecord | null> {
    const r = this.db
      .prepare(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = ?, updated_at = ? WHERE id = ? AND status IN ('pending', 'running') RETURNING *",
      )
      .get(workerId, nowIso(), id) as Row | undefined;
    return r ? toJob(r) : null;
  }

  async listJobsByStatus(status: JobStatus, limit = 1000): Promise<JobRecord[]> {
    const rows = this.db.prepare("SELECT * FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT ?").all(status, clampLimit(limit, 1000, 10000)) as Row[];
    return rows.map(toJob);
  }

  async failJob(id: string, error: string, runAfter: Date | null): Promise<void> {
    const now = nowIso();
    const r =
      runAfter === null
        ? this.db
            .prepare("UPDATE jobs SET status = 'failed', last_error = ?, locked_by = NULL, updated_at = ? WHERE id = ?")
            .run(error.slice(0, 4000), now, id)
        : this.db
            .prepare("UPDATE jobs SET status = 'pending', last_error = ?, run_after = ?, locked_by = NULL, updated_at = ? WHERE id = ?")
            .run(error.slice(0, 4000), runAfter.toISOString(), now, id);
    if (r.changes === 0) throw new NotFoundError("job", id);
  }

  async completeJob(id: string, report: Report): Promise<void> {
    const rep = check(ReportSchema, report, "report");
    const tx = this.db.transaction(() => {
      const job = this.db.prepare("SELECT session_id, scope FROM jobs WHERE id = ?").get(id) as Row | undefined;
      if (!job) throw new NotFoundError("job", id);
      const now = nowIso();
      this.db
        .prepare(
          "INSERT INTO reports (job_id, session_id, scope, report, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET report = excluded.report, created_at = excluded.created_at",
        )
        .run(id, job.session_id, job.scope, JSON.stringify(rep), now);
      this.db.prepare("UPDATE jobs SET status = 'done', last_error = NULL, locked_by = NULL, updated_at = ? WHERE id = ?").run(now, id);
    });
    tx.immediate();
  }

  async requeueRunningJobs(workerId?: string): Promise<number> {
    const now = nowIso();
    return workerId === undefined
      ? this.db.prepare("UPDATE jobs SET status = 'pending', locked_by = NULL, updated_at = ? WHERE status = 'running'").run(now).changes
      : this.db
          .prepare("UPDATE jobs SET status = 'pending', locked_by = NULL, updated_at = ? WHERE status = 'running' AND locked_by = ?")
          .run(now, workerId).changes;
  }

  async resumeWaitingJobs(): Promise<number> {
    const now = nowIso();
    return this.db.prepare("UPDATE jobs SET run_after = ?, updated_at = ? WHERE status = 'pending' AND run_after > ?").run(now, now, now).changes;
  }

  async countJobs(status: JobStatus): Promise<number> {
    return Number((this.db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE status = ?").get(status) as Row).n);
  }

  async getReport(sessionId: string): Promise<{ jobId: string; report: Report } | null> {
    const r = this.db
      .prepare("SELECT job_id, report FROM reports WHERE session_id = ? ORDER BY (scope = 'session') DESC, seq DESC LIMIT 1")
      .get(sessionId) as Row | undefined;
    return r ? storedReport(r.job_id as string, r.report) : null;
  }

  async listReports(sessionId: string): Promise<{ jobId: string; report: Report }[]> {
    const rows = this.db.prepare("SELECT job_id, report FROM reports WHERE session_id = ? ORDER BY seq").all(sessionId) as Row[];
    return rows.map((r) => storedReport(r.job_id as string, r.report));
  }

  async appendAudio(sessionId: string, seq: number, pcm16k: Buffer): Promise<void> {
    if (!Number.isInteger(seq) || seq < 0) throw new StoreError(`audio seq must be a non-negative integer, got ${seq}`);
    try {
      this.db
        .prepare("INSERT INTO audio_chunks (session_id, seq, pcm, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .run(sessionId, seq, pcm16k, nowIso());
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_FOREIGNKEY") throw new NotFoundError("session", sessionId);
      throw e;
    }
  }

  async getAudio(sessionId: string): Promise<Buffer | null> {
    const rows = this.db.prepare("SELECT pcm FROM audio_chunks WHERE session_id = ? ORDER BY seq").all(sessionId) as Row[];
    return rows.length === 0 ? null : Buffer.concat(rows.map((r) => r.pcm as Buffer));
  }

  async purgeAudio(olderThan: Date): Promise<number> {
    return this.db.prepare("DELETE FROM audio_chunks WHERE created_at < ?").run(olderThan.toISOString()).changes;
  }

  async upsertLesson(l: Omit<LessonRecord, "updatedAt">): Promise<"inserted" | "updated" | "unchanged"> {
    const v = check(NewLesson, l, "lesson");
    const tx = this.db.transaction((): "inserted" | "updated" | "unchanged" => {
      const cur = this.db.prepare("SELECT content_hash FROM lessons WHERE id = ?").get(v.id) as Row | undefined;
      if (cur && cur.content_hash === v.contentHash) return "unchanged";
      this.db
        .prepare(
          "INSERT INTO lessons (id, title, level, tags, body, url, content_hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, level = excluded.level, tags = excluded.tags, body = excluded.body, url = excluded.url, content_hash = excluded.content_hash, updated_at = excluded.updated_at",
        )
        .run(v.id, v.title, v.level, JSON.stringify(v.tags), v.body, v.url, v.contentHash, nowIso());
      return cur ? "updated" : "inserted";
    });
    return tx.immediate();
  }

  async getLesson(id: string): Promise<LessonRecord | null> {
    const r = this.db.prepare("SELECT * FROM lessons WHERE id = ?").get(id) as Row | undefined;
    return r ? toLesson(r) : null;
  }

  async listLessons(): Promise<LessonRecord[]> {
    return (this.db.prepare("SELECT * FROM lessons ORDER BY id").all() as Row[]).map(toLesson);
  }

  async deleteLessonsNotIn(ids: string[]): Promise<number> {
    // A temp table rather than `NOT IN (?, ?, ...)`: curricula can outgrow SQLite's bound-parameter limit.
    const tx = this.db.transaction((keep: string[]) => {
      this.db.exec("CREATE TEMP TABLE IF NOT EXISTS keep_lessons (id TEXT PRIMARY KEY); DELETE FROM keep_lessons;");
      const ins = this.db.prepare("INSERT OR IGNORE INTO keep_lessons (id) VALUES (?)");
      for (const id of keep) ins.run(id);
      return this.db.prepare("DELETE FROM lessons WHERE id NOT IN (SELECT id FROM keep_lessons)").run().changes;
    });
    return tx.immediate(ids);
  }
}
