// The shared store: PostgreSQL through a pg Pool, for several gateway/worker processes on one
// database. Job claims use `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on or
// take each other's rows.
import pg from "pg";
import type { Logger } from "../../util/log.js";
import type { Report } from "../../protocol/report.js";
import type { JobRecord, JobStatus, LessonRecord, Repository, SegmentRecord, SessionRecord, SessionStatus } from "../types.js";
import { NotFoundError, StoreError } from "../errors.js";
import { check, clampLimit, isoCursor, NewJob, NewLesson, NewSegment, NewSession, Report as ReportSchema, SessionPatch, storedReport } from "../validate.js";
import type { Migration } from "../sqlite/migrations.js";
import { POSTGRES_MIGRATIONS } from "./migrations.js";

type Row = Record<string, unknown>;
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

// Arbitrary constant: serialises migrations of processes starting together.
const MIGRATION_LOCK = 0x7061726c; // "parl"

function toSession(r: Row): SessionRecord {
  return {
    id: r.id as string,
    subject: r.subject as string,
    config: r.config as SessionRecord["config"],
    claims: r.claims as Record<string, unknown>,
    status: r.status as SessionStatus,
    createdAt: iso(r.created_at),
    endedAt: isoOrNull(r.ended_at),
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
    words: r.words as SegmentRecord["words"],
    createdAt: iso(r.created_at),
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
    runAfter: iso(r.run_after),
    lockedBy: (r.locked_by as string | null) ?? null,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toLesson(r: Row): LessonRecord {
  return {
    id: r.id as string,
    title: r.title as string,
    level: (r.level as string | null) ?? null,
    tags: r.tags as string[],
    body: r.body as string,
    url: (r.url as string | null) ?? null,
    contentHash: r.content_hash as string,
    updatedAt: iso(r.updated_at),
  };
}

const isFkViolation = (e: unknown) => (e as { code?: string }).code === "23503";

export interface PostgresOptions {
  connectionString: string;
  logger: Logger;
  poolSize?: number;
}

export class PostgresRepository implements Repository {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: PostgresOptions) {
    this.log = opts.logger;
    this.pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10 });
    // An idle client losing its connection emits 'error' on the pool; unhandled, it kills the process.
    this.pool.on("error", (e) => this.log.error({ err: e }, "postgres idle client error"));
  }

  private async q(sql: string, args: unknown[] = []): Promise<pg.QueryResult<Row>> {
    return this.pool.query<Row>(sql, args);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async migrate(): Promise<void> {
    await this.migrateWith(POSTGRES_MIGRATIONS);
  }

  async migrateWith(migrations: Migration[]): Promise<void> {
    try {
      await this.tx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
        await c.query(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        );
        const done = new Set((await c.query<Row>("SELECT version FROM schema_migrations")).rows.map((r) => Number(r.version)));
        for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
          if (done.has(m.version)) continue;
          await c.query(m.sql);
          await c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
          this.log.info({ version: m.version, name: m.name }, "postgres migration applied");
        }
      });
    } catch (e) {
      throw new StoreError(`postgres migration failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async schemaVersion(): Promise<number> {
    return Number((await this.q("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")).rows[0]?.v ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async createSession(s: Parameters<Repository["createSession"]>[0]): Promise<void> {
    const v = check(NewSession, s, "session");
    await this.q(
      "INSERT INTO sessions (id, subject, config, claims, status, created_at, ended_at, audio_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0)",
      [v.id, v.subject, JSON.stringify(v.config), JSON.stringify(v.claims), v.status ?? "streaming", v.createdAt],
    );
  }

  async updateSession(id: string, patch: Parameters<Repository["updateSession"]>[1]): Promise<void> {
    const p = check(SessionPatch, patch, "session patch");
    const sets: string[] = [];
    const args: unknown[] = [];
    const add = (col: string, v: unknown) => (args.push(v), sets.push(`${col} = $${args.length}`));
    if (p.status !== undefined) add("status", p.status);
    if (p.endedAt !== undefined) add("ended_at", p.endedAt);
    if (p.audioMs !== undefined) add("audio_ms", p.audioMs);
    if (sets.length === 0) return;
    args.push(id);
    const r = await this.q(`UPDATE sessions SET ${sets.join(", ")} WHERE id = $${args.length}`, args);
    if (r.rowCount === 0) throw new NotFoundError("session", id);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const r = (await this.q("SELECT * FROM sessions WHERE id = $1", [id])).rows[0];
    return r ? toSession(r) : null;
  }

  async listSessions(subject: string, opts: { limit?: number; before?: string } = {}): Promise<SessionRecord[]> {
    const limit = clampLimit(opts.limit, 50, 500);
    const r = opts.before
      ? await this.q(
          "SELECT * FROM sessions WHERE subject = $1 AND status <> 'deleted' AND created_at < $2 ORDER BY created_at DESC, id DESC LIMIT $3",
          [subject, isoCursor(opts.before), limit],
        )
      : await this.q("SELECT * FROM sessions WHERE subject = $1 AND status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT $2", [
          subject,
          limit,
        ]);
    return r.rows.map(toSession);
  }

  async deleteSession(id: string): Promise<boolean> {
    return ((await this.q("DELETE FROM sessions WHERE id = $1", [id])).rowCount ?? 0) > 0;
  }

  async listSessionIdsByStatus(status: SessionStatus, limit = 1000, createdBefore?: Date): Promise<string[]> {
    const r = await this.q(
      "SELECT id FROM sessions WHERE status = $1 AND ($3::timestamptz IS NULL OR created_at < $3) ORDER BY created_at ASC, id ASC LIMIT $2",
      [status, clampLimit(limit, 1000, 10000), createdBefore ? createdBefore.toISOString() : null],
    );
    return r.rows.map((row) => String(row.id));
  }

  async markInterrupted(sessionIds?: string[]): Promise<number> {
    if (sessionIds !== undefined && sessionIds.length === 0) return 0;
    const r =
      sessionIds === undefined
        ? await this.q("UPDATE sessions SET status = 'interrupted', ended_at = COALESCE(ended_at, now()) WHERE status = 'streaming'")
        : await this.q(
            "UPDATE sessions SET status = 'interrupted', ended_at = COALESCE(ended_at, now()) WHERE status = 'streaming' AND id = ANY($1::text[])",
            [sessionIds],
          );
    return r.rowCount ?? 0;
  }

  async appendSegment(seg: Omit<SegmentRecord, "createdAt">): Promise<void> {
    const v = check(NewSegment, seg, "segment");
    try {
      await this.q(
        "INSERT INTO segments (session_id, segment_id, text, start_s, end_s, words) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, segment_id) DO NOTHING",
        [v.sessionId, v.segmentId, v.text, v.start, v.end, JSON.stringify(v.words)],
      );
    } catch (e) {
      if (isFkViolation(e)) throw new NotFoundError("session", v.sessionId);
      throw e;
    }
  }

  async getSegments(sessionId: string): Promise<SegmentRecord[]> {
    return (await this.q("SELECT * FROM segments WHERE session_id = $1 ORDER BY segment_id", [sessionId])).rows.map(toSegment);
  }

  async createJob(job: Parameters<Repository["createJob"]>[0]): Promise<JobRecord> {
    const v = check(NewJob, job, "job");
    try {
      const r = await this.q(
        "INSERT INTO jobs (id, session_id, scope, segment_from, segment_to, status, attempts, run_after, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, clock_timestamp(), clock_timestamp(), clock_timestamp()) RETURNING *",
        [v.id, v.sessionId, v.scope, v.segmentFrom, v.segmentTo],
      );
      return toJob(r.rows[0]!);
    } catch (e) {
      if (isFkViolation(e)) throw new NotFoundError("session", v.sessionId);
      throw e;
    }
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const r = (await this.q("SELECT * FROM jobs WHERE id = $1", [id])).rows[0];
    return r ? toJob(r) : null;
  }

  async listJobs(sessionId: string): Promise<JobRecord[]> {
    return (await this.q("SELECT * FROM jobs WHERE session_id = $1 ORDER BY created_at, id", [sessionId])).rows.map(toJob);
  }

  async claimDueJobs(workerId: string, limit: number, now?: Date): Promise<JobRecord[]> {
    const n = clampLimit(limit, 1, 1000);
    const r = await this.q(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, updated_at = clock_timestamp()
       WHERE id IN (
         SELECT id FROM jobs WHERE status = 'pending' AND run_after <= COALESCE($2::timestamptz, clock_timestamp())
         ORDER BY run_after, created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      // Without `now`, the database clock decides: processes on several hosts agree on it.
      [workerId, now ? now.toISOString() : null, n],
    );
    // RETURNING does not keep the subquery's order.
    return r.rows
      .map(toJob)
      .sort((a, b) => a.runAfter.localeCompare(b.runAfter) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async claimJob(id: string, workerId: string): Promise<JobRecord | null> {
    const r = await this.q(
      "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $2, updated_at = clock_timestamp() WHERE id = $1 AND status IN ('pending', 'running') RETURNING *",
      [id, workerId],
    );
    return r.rows[0] ? toJob(r.rows[0]) : null;
  }

  async listJobsByStatus(status: JobStatus, limit = 1000): Promise<JobRecord[]> {
    const r = await this.q("SELECT * FROM jobs WHERE status = $1 ORDER BY created_at, id LIMIT $2", [status, clampLimit(limit, 1000, 10000)]);
    return r.rows.map(toJob);
  }

  async failJob(id: string, error: string, runAfter: Date | null): Promise<void> {
    const msg = error.slice(0, 4000);
    const r =
      runAfter === null
        ? await this.q("UPDATE jobs SET status = 'failed', last_error = $2, locked_by = NULL, updated_at = clock_timestamp() WHERE id = $1", [
            id,
            msg,
          ])
        : await this.q(
            "UPDATE jobs SET status = 'pending', last_error = $2, run_after = $3, locked_by = NULL, updated_at = clock_timestamp() WHERE id = $1",
            [id, msg, runAfter.toISOString()],
          );
    if (r.rowCount === 0) throw new NotFoundError("job", id);
  }

  async completeJob(id: string, report: Report): Promise<void> {
    const rep = check(ReportSchema, report, "report");
    await this.tx(async (c) => {
      const job = (await c.query<Row>("SELECT session_id, scope FROM jobs WHERE id = $1 FOR UPDATE", [id])).rows[0];
      if (!job) throw new NotFoundError("job", id);
      await c.query(
        `INSERT INTO reports (job_id, session_id, scope, report, created_at) VALUES ($1, $2, $3, $4, clock_timestamp())
         ON CONFLICT (job_id) DO UPDATE SET report = excluded.report, created_at = excluded.created_at`,
        [id, job.session_id, job.scope, JSON.stringify(rep)],
      );
      await c.query("UPDATE jobs SET status = 'done', last_error = NULL, locked_by = NULL, updated_at = clock_timestamp() WHERE id = $1", [id]);
    });
  }

  async requeueRunningJobs(workerId?: string): Promise<number> {
    const r =
      workerId === undefined
        ? await this.q("UPDATE jobs SET status = 'pending', locked_by = NULL, updated_at = clock_timestamp() WHERE status = 'running'")
        : await this.q(
            "UPDATE jobs SET status = 'pending', locked_by = NULL, updated_at = clock_timestamp() WHERE status = 'running' AND locked_by = $1",
            [workerId],
          );
    return r.rowCount ?? 0;
  }

  async resumeWaitingJobs(): Promise<number> {
    const r = await this.q("UPDATE jobs SET run_after = clock_timestamp(), updated_at = clock_timestamp() WHERE status = 'pending' AND run_after > clock_timestamp()");
    return r.rowCount ?? 0;
  }

  async countJobs(status: JobStatus): Promise<number> {
    return Number((await this.q("SELECT COUNT(*) AS n FROM jobs WHERE status = $1", [status])).rows[0]!.n);
  }

  async getReport(sessionId: string): Promise<{ jobId: string; report: Report } | null> {
    const r = (
      await this.q("SELECT job_id, report FROM reports WHERE session_id = $1 ORDER BY (scope = 'session') DESC, seq DESC LIMIT 1", [sessionId])
    ).rows[0];
    return r ? storedReport(r.job_id as string, r.report) : null;
  }

  async listReports(sessionId: string): Promise<{ jobId: string; report: Report }[]> {
    return (await this.q("SELECT job_id, report FROM reports WHERE session_id = $1 ORDER BY seq", [sessionId])).rows.map((r) => storedReport(r.job_id as string, r.report));
  }

  async appendAudio(sessionId: string, seq: number, pcm16k: Buffer): Promise<void> {
    if (!Number.isInteger(seq) || seq < 0) throw new StoreError(`audio seq must be a non-negative integer, got ${seq}`);
    try {
      await this.q("INSERT INTO audio_chunks (session_id, seq, pcm, created_at) VALUES ($1, $2, $3, clock_timestamp()) ON CONFLICT DO NOTHING", [
        sessionId,
        seq,
        pcm16k,
      ]);
    } catch (e) {
      if (isFkViolation(e)) throw new NotFoundError("session", sessionId);
      throw e;
    }
  }

  async getAudio(sessionId: string): Promise<Buffer | null> {
    const rows = (await this.q("SELECT pcm FROM audio_chunks WHERE session_id = $1 ORDER BY seq", [sessionId])).rows;
    return rows.length === 0 ? null : Buffer.concat(rows.map((r) => r.pcm as Buffer));
  }

  async purgeAudio(olderThan: Date): Promise<number> {
    return (await this.q("DELETE FROM audio_chunks WHERE created_at < $1", [olderThan.toISOString()])).rowCount ?? 0;
  }

  async upsertLesson(l: Omit<LessonRecord, "updatedAt">): Promise<"inserted" | "updated" | "unchanged"> {
    const v = check(NewLesson, l, "lesson");
    // xmax = 0 tells a fresh insert from an update; the WHERE skips rows whose hash is unchanged.
    const r = await this.q(
      `INSERT INTO lessons (id, title, level, tags, body, url, content_hash, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET title = excluded.title, level = excluded.level, tags = excluded.tags, body = excluded.body,
         url = excluded.url, content_hash = excluded.content_hash, updated_at = excluded.updated_at
       WHERE lessons.content_hash <> excluded.content_hash
       RETURNING (xmax = 0) AS inserted`,
      [v.id, v.title, v.level, JSON.stringify(v.tags), v.body, v.url, v.contentHash],
    );
    const row = r.rows[0];
    if (!row) return "unchanged";
    return row.inserted ? "inserted" : "updated";
  }

  async getLesson(id: string): Promise<LessonRecord | null> {
    const r = (await this.q("SELECT * FROM lessons WHERE id = $1", [id])).rows[0];
    return r ? toLesson(r) : null;
  }

  async listLessons(): Promise<LessonRecord[]> {
    return (await this.q("SELECT * FROM lessons ORDER BY id")).rows.map(toLesson);
  }

  async deleteLessonsNotIn(ids: string[]): Promise<number> {
    return (await this.q("DELETE FROM lessons WHERE NOT (id = ANY($1::text[]))", [ids])).rowCount ?? 0;
  }
}
