// The one repository test suite, run against every implementation (sqlite.test.ts,
// postgres.test.ts) so both behave the same.
import { test, after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { Repository } from "../../src/store/types.js";
import { CorruptRecordError, InvalidRecordError, NotFoundError } from "../../src/store/errors.js";
import { makeReport, streamConfig } from "./fixtures.js";

export interface RepoFactory {
  /** A fresh, migrated, empty store. */
  open(): Promise<Repository>;
  /** Another connection (another pool or file handle) to the same store as the last open(). */
  openSecond(): Promise<Repository>;
  cleanup?(): Promise<void>;
  /** Overwrites a stored report's column with `json` behind the repository's back (a hand edit, an incompatible writer). */
  corruptReport(repo: Repository, jobId: string, json: string): Promise<void>;
}

let seq = 0;
const uid = (p: string) => `${p}-${process.pid}-${++seq}`;

async function newSession(repo: Repository, subject = "alice", createdAt = new Date().toISOString()) {
  const id = uid("s");
  await repo.createSession({ id, subject, config: streamConfig, claims: { level: "B1" }, createdAt });
  return id;
}

export function repositoryContract(name: string, factory: RepoFactory): void {
  describe(`repository contract: ${name}`, () => contract(name, factory));
}

function contract(name: string, factory: RepoFactory): void {
  let repo: Repository;
  const extra: Repository[] = [];
  before(async () => {
    repo = await factory.open();
  });
  after(async () => {
    for (const r of extra) await r.close();
    await repo?.close();
    await factory.cleanup?.();
  });
  const second = async () => {
    const r = await factory.openSecond();
    extra.push(r);
    return r;
  };

  test(`${name}: migrate is idempotent`, async () => {
    await repo.migrate();
    await repo.migrate();
    const r2 = await second();
    await r2.migrate();
  });

  test(`${name}: sessions round-trip, update, list newest first with cursor, per subject`, async () => {
    const subject = uid("sub");
    const t0 = Date.parse("2025-01-01T10:00:00Z");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await newSession(repo, subject, new Date(t0 + i * 1000).toISOString()));
    await newSession(repo, uid("other"));
    const s = await repo.getSession(ids[0]!);
    assert.ok(s);
    assert.equal(s.subject, subject);
    assert.equal(s.status, "streaming");
    assert.equal(s.endedAt, null);
    assert.equal(s.audioMs, 0);
    assert.deepEqual(s.claims, { level: "B1" });
    assert.deepEqual(s.config, streamConfig);
    assert.equal(s.createdAt, new Date(t0).toISOString());

    await repo.updateSession(ids[0]!, { status: "ended", endedAt: new Date(t0 + 5000).toISOString(), audioMs: 4250 });
    const u = await repo.getSession(ids[0]!);
    assert.equal(u?.status, "ended");
    assert.equal(u?.endedAt, new Date(t0 + 5000).toISOString());
    assert.equal(u?.audioMs, 4250);

    const list = await repo.listSessions(subject);
    assert.deepEqual(list.map((x) => x.id), [ids[2], ids[1], ids[0]]);
    const page = await repo.listSessions(subject, { limit: 1, before: list[0]!.createdAt });
    assert.deepEqual(page.map((x) => x.id), [ids[1]]);
    assert.equal(await repo.getSession("nope"), null);
    await assert.rejects(repo.updateSession("nope", { status: "ended" }), NotFoundError);
  });

  test(`${name}: invalid input is rejected before the database`, async () => {
    await assert.rejects(
      repo.createSession({ id: "", subject: "a", config: streamConfig, claims: {}, createdAt: "yesterday" }),
      InvalidRecordError,
    );
    const id = await newSession(repo);
    await assert.rejects(
      repo.appendSegment({ sessionId: id, segmentId: -1, text: "x", start: 0, end: 1, words: [] }),
      InvalidRecordError,
    );
    await assert.rejects(repo.completeJob("whatever", { nope: true } as never), InvalidRecordError);
  });

  test(`${name}: a stored report that no longer fits the report schema is a CorruptRecordError on read, not a Report`, async () => {
    const id = await newSession(repo);
    const job = await repo.createJob({ id: uid("job"), sessionId: id, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.completeJob(job.id, makeReport(id));
    assert.equal((await repo.getReport(id))?.report.session_id, id, "a valid row reads back");
    for (const bad of [JSON.stringify({ nope: true }), JSON.stringify({ ...makeReport(id), llm_status: "bogus" }), JSON.stringify([1, 2])]) {
      await factory.corruptReport(repo, job.id, bad);
      await assert.rejects(repo.getReport(id), (e: Error) => e instanceof CorruptRecordError && e.message.includes(job.id), bad);
      await assert.rejects(repo.listReports(id), CorruptRecordError);
    }
  });

  test(`${name}: appendSegment is idempotent and keeps words with timings and confidences`, async () => {
    const id = await newSession(repo);
    const words = [
      { word: "I", start: 0.12, end: 0.3, confidence: 0.91 },
      { word: "goed", start: 0.3, end: 0.71, confidence: 0.42 },
    ];
    await repo.appendSegment({ sessionId: id, segmentId: 1, text: " I goed", start: 0.12, end: 0.71, words });
    await repo.appendSegment({ sessionId: id, segmentId: 0, text: " Hello", start: 0, end: 0.1, words: [] });
    // A retry with the same id (even different text) keeps the first commit.
    await repo.appendSegment({ sessionId: id, segmentId: 1, text: " changed", start: 9, end: 9, words: [] });
    const segs = await repo.getSegments(id);
    assert.deepEqual(segs.map((s) => s.segmentId), [0, 1]);
    assert.equal(segs[1]!.text, " I goed");
    assert.deepEqual(segs[1]!.words, words);
    assert.equal(segs[1]!.start, 0.12);
    assert.ok(!Number.isNaN(Date.parse(segs[1]!.createdAt)));
    await assert.rejects(repo.appendSegment({ sessionId: "missing", segmentId: 0, text: "x", start: 0, end: 1, words: [] }), NotFoundError);
  });

  test(`${name}: markInterrupted touches only streaming sessions (all or the given ids)`, async () => {
    const a = await newSession(repo);
    const b = await newSession(repo);
    const c = await newSession(repo);
    await repo.updateSession(c, { status: "ended" });
    const streaming = await repo.listSessionIdsByStatus("streaming");
    assert.ok(streaming.includes(a) && streaming.includes(b) && !streaming.includes(c));
    assert.deepEqual(await repo.listSessionIdsByStatus("ended"), (await repo.listSessionIdsByStatus("ended")).filter((id) => id !== a && id !== b));
    assert.ok((await repo.listSessionIdsByStatus("ended")).includes(c));
    assert.equal(await repo.markInterrupted([a, c]), 1);
    assert.equal((await repo.getSession(a))?.status, "interrupted");
    assert.ok((await repo.getSession(a))?.endedAt);
    assert.equal((await repo.getSession(b))?.status, "streaming");
    assert.equal(await repo.markInterrupted([]), 0);
    assert.ok((await repo.markInterrupted()) >= 1);
    assert.equal((await repo.getSession(b))?.status, "interrupted");
    assert.equal((await repo.getSession(c))?.status, "ended");
  });

  test(`${name}: job lifecycle: claim, fail with retry, due time, fail for good, complete`, async () => {
    const sid = await newSession(repo);
    const job = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    assert.equal(job.status, "pending");
    assert.equal(job.attempts, 0);
    assert.equal(job.lockedBy, null);

    const far = new Date(Date.now() + 3600_000);
    const claimed = (await repo.claimDueJobs("w1", 100, far)).filter((j) => j.id === job.id);
    assert.equal(claimed.length, 1);
    assert.equal(claimed[0]!.status, "running");
    assert.equal(claimed[0]!.attempts, 1);
    assert.equal(claimed[0]!.lockedBy, "w1");
    assert.equal((await repo.claimDueJobs("w2", 100, far)).filter((j) => j.id === job.id).length, 0, "running jobs are not claimed again");

    const retryAt = new Date(Date.now() + 60_000);
    await repo.failJob(job.id, "llm unavailable", retryAt);
    let j = await repo.getJob(job.id);
    assert.equal(j?.status, "pending");
    assert.equal(j?.lastError, "llm unavailable");
    assert.equal(j?.runAfter, retryAt.toISOString());
    assert.equal(j?.lockedBy, null);
    assert.equal((await repo.claimDueJobs("w1", 100, new Date(retryAt.getTime() - 1000))).filter((x) => x.id === job.id).length, 0, "not due yet");
    const again = (await repo.claimDueJobs("w1", 100, new Date(retryAt.getTime() + 1000))).filter((x) => x.id === job.id);
    assert.equal(again[0]?.attempts, 2);

    await repo.failJob(job.id, "bad for good", null);
    j = await repo.getJob(job.id);
    assert.equal(j?.status, "failed");
    assert.equal((await repo.claimDueJobs("w1", 100, far)).filter((x) => x.id === job.id).length, 0);

    const job2 = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "utterance", segmentFrom: 0, segmentTo: 3 });
    assert.equal(job2.segmentFrom, 0);
    assert.equal(job2.segmentTo, 3);
    await repo.claimDueJobs("w1", 100, far);
    await repo.completeJob(job2.id, makeReport(sid));
    assert.equal((await repo.getJob(job2.id))?.status, "done");
    assert.deepEqual((await repo.listJobs(sid)).map((x) => x.id), [job.id, job2.id]);
    await assert.rejects(repo.failJob("missing", "x", null), NotFoundError);
    await assert.rejects(repo.completeJob("missing", makeReport(sid)), NotFoundError);
    await assert.rejects(repo.createJob({ id: uid("j"), sessionId: "missing", scope: "session", segmentFrom: null, segmentTo: null }), NotFoundError);
  });

  test(`${name}: claimJob claims one job by id (pending or stalled running), ignoring its due time`, async () => {
    const sid = await newSession(repo);
    const far = new Date(Date.now() + 7200_000);
    await repo.claimDueJobs("drain", 1000, far);
    const job = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    const other = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.failJob(job.id, "llm unavailable", new Date(Date.now() + 3600_000)); // not due for an hour
    const pendingIds = (await repo.listJobsByStatus("pending")).map((j) => j.id);
    assert.deepEqual(pendingIds.filter((id) => id === job.id || id === other.id), [job.id, other.id], "oldest first");

    const a = await repo.claimJob(job.id, "bull-1");
    assert.equal(a?.id, job.id);
    assert.equal(a?.status, "running");
    assert.equal(a?.attempts, 1);
    assert.equal(a?.lockedBy, "bull-1");
    assert.equal((await repo.getJob(other.id))?.status, "pending", "only the named job is claimed");
    assert.ok((await repo.listJobsByStatus("running")).some((j) => j.id === job.id));
    // The queue hands a stalled job to another runner: it takes the running job over.
    const b = await repo.claimJob(job.id, "bull-2");
    assert.equal(b?.attempts, 2);
    assert.equal(b?.lockedBy, "bull-2");

    await repo.completeJob(job.id, makeReport(sid));
    assert.equal(await repo.claimJob(job.id, "bull-3"), null, "done jobs are not claimed");
    await repo.claimJob(other.id, "bull-1");
    await repo.failJob(other.id, "bad for good", null);
    assert.equal(await repo.claimJob(other.id, "bull-1"), null, "failed jobs are not claimed");
    assert.equal(await repo.claimJob("missing", "bull-1"), null);
    assert.equal((await repo.listJobsByStatus("pending")).some((j) => j.id === job.id || j.id === other.id), false);
  });

  test(`${name}: listSessionIdsByStatus keeps only sessions created before a time`, async () => {
    const old = await newSession(repo, "alice", new Date(Date.now() - 7200_000).toISOString());
    const fresh = await newSession(repo);
    const stale = await repo.listSessionIdsByStatus("streaming", 1000, new Date(Date.now() - 3600_000));
    assert.ok(stale.includes(old));
    assert.ok(!stale.includes(fresh));
    assert.ok((await repo.listSessionIdsByStatus("streaming")).includes(fresh));
    await repo.markInterrupted([old, fresh]);
  });

  test(`${name}: claimDueJobs respects the limit and due order`, async () => {
    const sid = await newSession(repo);
    const far = new Date(Date.now() + 7200_000);
    await repo.claimDueJobs("drain", 1000, far); // leftovers of earlier tests
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null })).id);
    const first = await repo.claimDueJobs("w", 2, far);
    assert.equal(first.length, 2);
    const rest = await repo.claimDueJobs("w", 10, far);
    assert.deepEqual([...first, ...rest].map((j) => j.id).sort(), [...ids].sort());
  });

  test(`${name}: two claimers on separate connections never get the same job`, async () => {
    const other = await second();
    const sid = await newSession(repo);
    const far = new Date(Date.now() + 7200_000);
    await repo.claimDueJobs("drain", 1000, far);
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) ids.add((await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null })).id);
    const loop = async (r: Repository, w: string) => {
      const got: string[] = [];
      for (;;) {
        const batch = await r.claimDueJobs(w, 3, far);
        if (batch.length === 0) return got;
        for (const j of batch) assert.equal(j.lockedBy, w);
        got.push(...batch.map((j) => j.id));
      }
    };
    const [a, b] = await Promise.all([loop(repo, "A"), loop(other, "B")]);
    const all = [...a, ...b];
    assert.equal(new Set(all).size, all.length, "a job was claimed twice");
    assert.deepEqual(new Set(all), ids);
  });

  test(`${name}: requeueRunningJobs returns crashed jobs to pending (all or one worker's)`, async () => {
    const sid = await newSession(repo);
    const far = new Date(Date.now() + 7200_000);
    await repo.claimDueJobs("drain", 1000, far);
    const j1 = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.claimDueJobs("dead-worker", 1, far);
    const j2 = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.claimDueJobs("live-worker", 1, far);
    assert.equal(await repo.requeueRunningJobs("dead-worker"), 1);
    assert.equal((await repo.getJob(j1.id))?.status, "pending");
    assert.equal((await repo.getJob(j1.id))?.lockedBy, null);
    assert.equal((await repo.getJob(j2.id))?.status, "running");
    assert.ok((await repo.requeueRunningJobs()) >= 1);
    assert.equal((await repo.getJob(j2.id))?.status, "pending");
    assert.equal(await repo.countJobs("running"), 0);
    const again = await repo.claimDueJobs("w", 1000, far);
    assert.ok(again.some((j) => j.id === j1.id && j.attempts === 2), "a requeued job is claimable and keeps its attempt count");
  });

  test(`${name}: resumeWaitingJobs makes jobs waiting out a back-off due now, and nothing else`, async () => {
    const sid = await newSession(repo);
    const far = new Date(Date.now() + 7200_000);
    await repo.claimDueJobs("drain", 1000, far);
    const waiting = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.claimDueJobs("w", 1, far);
    await repo.failJob(waiting.id, "llm down", new Date(Date.now() + 3600_000));
    const running = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.claimDueJobs("w", 1, far);
    assert.equal((await repo.claimDueJobs("w", 1000)).length, 0, "the waiting job is not due yet");
    assert.equal(await repo.resumeWaitingJobs(), 1);
    const due = await repo.claimDueJobs("w2", 1000);
    assert.deepEqual(due.map((j) => j.id), [waiting.id]);
    assert.equal(due[0]!.attempts, 2, "keeps its attempt count");
    assert.equal((await repo.getJob(running.id))?.status, "running", "running jobs are left alone");
  });

  test(`${name}: reports: session scope wins over utterance, newest first; listReports in order`, async () => {
    const sid = await newSession(repo);
    assert.equal(await repo.getReport(sid), null);
    const far = new Date(Date.now() + 7200_000);
    const u1 = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "utterance", segmentFrom: 0, segmentTo: 0 });
    const u2 = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "utterance", segmentFrom: 1, segmentTo: 1 });
    await repo.claimDueJobs("w", 1000, far);
    await repo.completeJob(u1.id, makeReport(sid, "u1"));
    await repo.completeJob(u2.id, makeReport(sid, "u2"));
    assert.equal((await repo.getReport(sid))?.jobId, u2.id);
    const s = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    const finalReport = makeReport(sid, "final");
    await repo.completeJob(s.id, finalReport);
    const r = await repo.getReport(sid);
    assert.equal(r?.jobId, s.id);
    assert.deepEqual(r?.report, finalReport);
    assert.equal(r?.report.recommendations[0]?.resources[0]?.lesson_id, "tense-past-simple");
    assert.deepEqual((await repo.listReports(sid)).map((x) => x.jobId), [u1.id, u2.id, s.id]);
  });

  test(`${name}: deleteSession cascades to segments, jobs, reports and audio`, async () => {
    const sid = await newSession(repo);
    const keep = await newSession(repo);
    await repo.appendSegment({ sessionId: sid, segmentId: 0, text: "x", start: 0, end: 1, words: [] });
    await repo.appendSegment({ sessionId: keep, segmentId: 0, text: "y", start: 0, end: 1, words: [] });
    const j = await repo.createJob({ id: uid("j"), sessionId: sid, scope: "session", segmentFrom: null, segmentTo: null });
    await repo.completeJob(j.id, makeReport(sid));
    await repo.appendAudio(sid, 0, Buffer.alloc(320, 1));
    assert.equal(await repo.deleteSession(sid), true);
    assert.equal(await repo.getSession(sid), null);
    assert.deepEqual(await repo.getSegments(sid), []);
    assert.equal(await repo.getJob(j.id), null);
    assert.deepEqual(await repo.listJobs(sid), []);
    assert.equal(await repo.getReport(sid), null);
    assert.deepEqual(await repo.listReports(sid), []);
    assert.equal(await repo.getAudio(sid), null);
    assert.equal(await repo.deleteSession(sid), false);
    assert.equal((await repo.getSegments(keep)).length, 1, "other sessions untouched");
  });

  test(`${name}: audio is kept in order and purged by age`, async () => {
    const sid = await newSession(repo);
    await repo.appendAudio(sid, 1, Buffer.from([3, 4]));
    await repo.appendAudio(sid, 0, Buffer.from([1, 2]));
    await repo.appendAudio(sid, 1, Buffer.from([9, 9])); // retry: ignored
    assert.deepEqual(await repo.getAudio(sid), Buffer.from([1, 2, 3, 4]));
    assert.equal(await repo.purgeAudio(new Date(Date.now() - 86_400_000)), 0, "younger than the cutoff: kept");
    assert.ok((await repo.purgeAudio(new Date(Date.now() + 60_000))) >= 2);
    assert.equal(await repo.getAudio(sid), null);
    assert.ok(await repo.getSession(sid), "purging audio keeps the session");
    await assert.rejects(repo.appendAudio("missing", 0, Buffer.from([1])), NotFoundError);
  });

  test(`${name}: lessons upsert by content hash, list, prune`, async () => {
    const base = { title: "Articles", level: "A2", tags: ["article"], body: "a / an / the", url: null };
    assert.equal(await repo.upsertLesson({ id: "l-a", ...base, contentHash: "h1" }), "inserted");
    assert.equal(await repo.upsertLesson({ id: "l-a", ...base, contentHash: "h1" }), "unchanged");
    assert.equal(await repo.upsertLesson({ id: "l-a", ...base, title: "Articles 2", contentHash: "h2" }), "updated");
    assert.equal(await repo.upsertLesson({ id: "l-b", ...base, url: "/lessons/l-b", contentHash: "x" }), "inserted");
    const a = await repo.getLesson("l-a");
    assert.equal(a?.title, "Articles 2");
    assert.deepEqual(a?.tags, ["article"]);
    assert.equal(a?.url, null);
    assert.equal((await repo.getLesson("l-b"))?.url, "/lessons/l-b");
    assert.deepEqual((await repo.listLessons()).map((l) => l.id), ["l-a", "l-b"]);
    assert.equal(await repo.deleteLessonsNotIn(["l-b"]), 1);
    assert.deepEqual((await repo.listLessons()).map((l) => l.id), ["l-b"]);
    assert.equal(await repo.getLesson("l-a"), null);
    assert.equal(await repo.deleteLessonsNotIn([]), 1);
  });
}
