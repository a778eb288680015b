// Issue 8: the LLM server is down, then hangs, then comes back. The learner gets a provisional
// report at once, the job is retried with exponential backoff, and the complete report reaches
// the still-open socket when the LLM answers again. Acceptance 4: /metrics shows queue depth,
// lag (histogram), busy rejections and analysis retries, checked against what happened here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { authed } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { SQLITE_FILE } from "../../src/store/index.js";
import { ScriptedLlm, metricValue, startFaultServer, until } from "./_util.js";

const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 4000;

interface JobRow {
  status: string;
  attempts: number;
  run_after: string;
  updated_at: string;
}

test("LLM down, then hanging: report pending, retried with backoff, delivered when the LLM returns; metrics tell the story", { timeout: 300_000 }, async () => {
  const llm = await ScriptedLlm.create("down");
  const s = await startFaultServer(llm, {
    PARLANCE_ANALYSIS_RETRY_BASE_MS: String(RETRY_BASE_MS),
    PARLANCE_ANALYSIS_RETRY_MAX_MS: String(RETRY_MAX_MS),
    PARLANCE_ANALYSIS_MAX_ATTEMPTS: "30",
    PARLANCE_LLM_TIMEOUT_MS: "1500", // "hang" must end in a timeout, not a stuck worker
    PARLANCE_STT_MAX_STREAMS: "1", // so a second live session is refused as busy
  });
  const token = await hsToken({ sub: "patient-learner" });
  // Read-only view of the job table: the backoff delays are checked where the server wrote them.
  const db = new Database(join(s.dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
  const jobRow = (id: string) => db.prepare("SELECT status, attempts, run_after, updated_at FROM jobs WHERE id = ?").get(id) as JobRow | undefined;

  const c = await authed(s.gw, token);
  const ready = await c.next("ready", 30_000);
  const id = ready.session_id as string;
  const streaming = sendPaced(c.ws, wavChunks("jfk.wav"), 250, 4);

  // Admission control while the only stream slot is taken: busy, then 1013.
  const refused = await authed(s.gw, token);
  const busy = await refused.next("busy", 30_000);
  assert.ok((busy.retry_after_ms as number) > 0);
  assert.equal((await refused.closed).code, 1013);
  assert.equal(refused.messages.find((m) => m.type === "error")?.code, "server_busy");

  await streaming;
  c.ws.send(JSON.stringify({ type: "end" }));
  await c.next("ended", 90_000);
  const started = await c.next("analysis_started", 30_000);
  const jobId = started.job_id as string;

  // LLM down: a provisional report (deterministic parts) arrives at once.
  const provisional = await c.next("report", 60_000);
  assert.equal(provisional.job_id, jobId);
  const pr = provisional.report as { status: string; llm_status: string; errors: unknown[] };
  assert.equal(pr.status, "pending");
  assert.equal(pr.llm_status, "pending");
  assert.deepEqual(pr.errors, [], "no grammar verdicts without the LLM");
  const rest = await s.get(`/v1/sessions/${id}/report`, token);
  assert.equal(rest.status, 202, rest.text);
  assert.equal(rest.body.status, "pending");
  assert.equal(rest.body.job_id, jobId);
  assert.ok(rest.body.attempts >= 1);

  // Each failed attempt leaves the job pending with run_after = failure time + backoff(attempt).
  const delays = new Map<number, number>();
  const watch = setInterval(() => {
    const r = jobRow(jobId);
    if (r?.status === "pending" && r.attempts > 0) delays.set(r.attempts, Date.parse(r.run_after) - Date.parse(r.updated_at));
  }, 50);
  try {
    await until("three failed attempts while the LLM is down", () => delays.size >= 3 && jobRow(jobId)!.attempts >= 3, 120_000, 100);
    // The gauge is refreshed by the queue's poller (every second): wait for it rather than race it.
    await until("the waiting job counted in the queue depth", async () => metricValue(await s.metrics(), "parlance_analysis_queue_depth") === 1, 30_000, 200);

    // LLM accepts the request and never answers: the timeout turns it into another retry.
    await llm.set("hang");
    const before = jobRow(jobId)!.attempts;
    await until("a request reaches the hanging LLM", () => llm.requests >= 1, 120_000, 100);
    await until("the hanging attempt times out and is rescheduled", () => {
      const r = jobRow(jobId)!;
      return r.status === "pending" && r.attempts > before;
    }, 120_000, 100);
    assert.equal(c.messages.filter((m) => m.type === "report").length, 1, "only the provisional report so far");
    assert.equal(c.ws.readyState, c.ws.OPEN, "the learner's socket stays open while the analysis waits");

    // Back: the complete report reaches the same socket, which then closes normally.
    await llm.set("answer");
    const complete = await until("the complete report", () => c.messages.filter((m) => m.type === "report")[1], 120_000, 100);
    assert.equal(complete.job_id, jobId);
    const cr = complete.report as { status: string; llm_status: string; session_id: string };
    assert.equal(cr.status, "complete");
    assert.equal(cr.llm_status, "ok");
    assert.equal(cr.session_id, id);
    assert.equal((await c.closed).code, 1000);
  } finally {
    clearInterval(watch);
  }

  // Backoff: doubling from the base, capped, with +-20 % jitter (a few ms lost between the two clock reads).
  assert.ok(delays.size >= 4, `delays seen: ${JSON.stringify([...delays])}`);
  for (const [attempt, delay] of delays) {
    const nominal = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
    assert.ok(delay >= 0.8 * nominal - 50 && delay <= 1.2 * nominal + 50, `attempt ${attempt}: delay ${delay} ms, nominal ${nominal} ms`);
  }
  const done = jobRow(jobId)!;
  assert.equal(done.status, "done");
  db.close();

  const rep = await s.get(`/v1/sessions/${id}/report`, token);
  assert.equal(rep.status, 200);
  assert.equal(rep.body.report.status, "complete");

  // Acceptance 4: the metrics agree with what this test did.
  const m = await until("queue drained in /metrics", async () => {
    const text = await s.metrics();
    return metricValue(text, "parlance_analysis_queue_depth") === 0 ? text : null;
  }, 30_000, 250);
  assert.equal(metricValue(m, "parlance_busy_rejections_total"), 1);
  assert.equal(metricValue(m, "parlance_analysis_retries_total"), done.attempts - 1, "every failed attempt but none of the successes is a retry");
  assert.equal(metricValue(m, "parlance_analysis_jobs_total", 'outcome="ok"'), 1);
  // One lag observation per transcript event of the one session that streamed.
  const withLag = c.messages.filter((x) => typeof x.lag_ms === "number").length;
  assert.ok(withLag > 0);
  assert.equal(metricValue(m, "parlance_session_lag_seconds_count"), withLag);
  assert.equal(metricValue(m, "parlance_session_lag_seconds_bucket", 'le="+Inf"'), withLag);
  assert.ok(metricValue(m, "parlance_session_lag_seconds_sum") >= 0);
  assert.match(m, /# TYPE parlance_session_lag_seconds histogram/);
  assert.equal(metricValue(m, "parlance_closes_total", 'code="1013"'), 1);

  const exit = await s.srv.stop("SIGTERM");
  assert.equal(exit.code, 0, s.srv.output());
});
