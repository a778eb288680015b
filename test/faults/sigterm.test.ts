// Issue 8: SIGTERM on a real `parlance serve` with a session mid-utterance, a session waiting for
// its report (analysis running on the LLM) and a connection that has not authenticated yet.
// The server stops accepting, tells every client (`shutting_down`, then close 1001), commits and
// stores the pending speech, finishes the running analysis when it can (or leaves it for the
// next start when it cannot), and exits 0 within PARLANCE_SHUTDOWN_GRACE_MS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { authed, connect, type Recorded } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { SQLITE_FILE } from "../../src/store/index.js";
import { ScriptedLlm, reportOverRest, startFaultServer, until, type FaultServer } from "./_util.js";

interface Stage {
  s: FaultServer;
  token: string;
  streaming: Recorded; // mid-utterance at SIGTERM
  waiting: Recorded; // ended, analysis running at SIGTERM
  unauthed: Recorded;
  streamingId: string;
  waitingId: string;
  seenFinals: Record<string, unknown>[];
}

async function stage(llm: ScriptedLlm, graceMs: number): Promise<Stage> {
  const s = await startFaultServer(llm, { PARLANCE_SHUTDOWN_GRACE_MS: String(graceMs) });
  const token = await hsToken({ sub: "sigterm-learner" });

  const waiting = await authed(s.gw, token);
  const waitingId = (await waiting.next("ready", 30_000)).session_id as string;
  await sendPaced(waiting.ws, wavChunks("jfk.wav"), 250, 4);
  waiting.ws.send(JSON.stringify({ type: "end" }));
  await waiting.next("analysis_started", 60_000);
  await until("the analysis is running on the LLM", () => llm.requests >= 1, 60_000);

  const streaming = await authed(s.gw, token);
  const streamingId = (await streaming.next("ready", 30_000)).session_id as string;
  void sendPaced(streaming.ws, wavChunks("jfk.wav"), 250, 1);
  await streaming.next("final", 90_000);
  await until("uncommitted speech after the first final", () => {
    const i = streaming.messages.findIndex((m) => m.type === "final");
    return streaming.messages.slice(i + 1).some((m) => m.type === "partial" && (m.text as string).length > 0);
  }, 90_000);
  const seenFinals = streaming.messages.filter((m) => m.type === "final");

  const unauthed = await connect(s.gw.wsUrl, s.ca);
  return { s, token, streaming, waiting, unauthed, streamingId, waitingId, seenFinals };
}

/** What every SIGTERM must do, whatever the LLM does meanwhile. */
async function assertToldAndCommitted(st: Stage) {
  const { streaming, waiting, unauthed } = st;
  for (const [name, c] of [["streaming", streaming], ["waiting", waiting], ["unauthenticated", unauthed]] as const) {
    const close = await c.closed;
    assert.equal(close.code, 1001, `${name}: closed ${close.code} ${close.reason}; messages ${JSON.stringify(c.messages.map((m) => m.type))}`);
    const err = c.messages.find((m) => m.type === "error");
    assert.equal(err?.code, "shutting_down", `${name} is told why`);
  }
  // The streaming session gets its pending speech committed before the close: finals, then `ended`.
  const types = streaming.messages.map((m) => m.type);
  const told = types.indexOf("error");
  const ended = streaming.messages.find((m) => m.type === "ended");
  assert.ok(ended, `ended before the close: ${JSON.stringify(types)}`);
  assert.ok(types.indexOf("ended") > told, "told first, so the client stops sending; then the commit");
  assert.equal(streaming.messages.filter((m) => m.type === "error").length, 1, "no noise about audio sent after the notice");
  return ended;
}

function storeView(dataDir: string) {
  const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
  const session = (id: string) => db.prepare("SELECT status FROM sessions WHERE id = ?").get(id) as { status: string };
  const segments = (id: string) => db.prepare("SELECT segment_id, text FROM segments WHERE session_id = ? ORDER BY segment_id").all(id) as { segment_id: number; text: string }[];
  const jobs = (id: string) => db.prepare("SELECT status, scope FROM jobs WHERE session_id = ?").all(id) as { status: string; scope: string }[];
  return { session, segments, jobs, close: () => db.close() };
}

test("SIGTERM: stop accepting, shutting_down + 1001, pending speech stored, running analysis finished, exit 0", { timeout: 300_000 }, async () => {
  const llm = await ScriptedLlm.create("hang"); // held until released: running, not stuck
  const grace = 30_000;
  const st = await stage(llm, grace);
  const t0 = Date.now();
  st.s.srv.child.kill("SIGTERM");

  await st.streaming.next("error", 30_000);
  await assert.rejects(connect(st.s.gw.wsUrl, st.s.ca), "no new connection once shutdown has begun");
  const ended = await assertToldAndCommitted(st);
  assert.equal(st.s.srv.child.exitCode, null, "still up: waiting for the running analysis");
  llm.release(); // the LLM answers while the server drains
  const exit = await st.s.srv.exited;
  const took = Date.now() - t0;
  assert.equal(exit.code, 0, st.s.srv.output());
  assert.ok(took < grace, `exited after ${took} ms: it waited for the analysis, not for the whole grace period`);
  assert.ok(llm.answered >= 1, "the running analysis got its answer before the exit");

  const db = storeView(st.s.dataDir);
  assert.equal(db.session(st.streamingId).status, "ended");
  const stored = db.segments(st.streamingId);
  assert.equal(stored.length, ended.segments, "everything committed at shutdown is stored");
  assert.equal(stored.map((x) => x.text).join(" ").replace(/\s+/g, " ").trim(), ended.text);
  assert.ok(stored.length > st.seenFinals.length, "the speech pending at SIGTERM was committed");
  assert.deepEqual(db.jobs(st.waitingId).map((j) => j.status), ["done"], "the running analysis finished");
  assert.deepEqual(db.jobs(st.streamingId).map((j) => j.status), ["pending"], "the new analysis is persisted for the next start");
  db.close();

  // Next start: the persisted analysis runs; both reports are there.
  const again = await startFaultServer(llm, {}, st.s.dataDir);
  for (const id of [st.waitingId, st.streamingId]) {
    const rep = await reportOverRest(again, id, st.token);
    assert.equal(rep.report.status, "complete");
    assert.equal(rep.report.llm_status, "ok");
  }
  assert.equal((await again.srv.stop("SIGTERM")).code, 0, again.srv.output());
});

test("SIGTERM with the LLM hanging: exit 0 after the grace period, the running analysis resumes on the next start", { timeout: 300_000 }, async () => {
  const llm = await ScriptedLlm.create("hang");
  const grace = 6000;
  const st = await stage(llm, grace);
  const t0 = Date.now();
  st.s.srv.child.kill("SIGTERM");

  await st.streaming.next("error", 30_000);
  await assert.rejects(connect(st.s.gw.wsUrl, st.s.ca), "no new connection once shutdown has begun");
  await assertToldAndCommitted(st);
  assert.equal(st.s.srv.child.exitCode, null, "still up: waiting for the running analysis");
  const exit = await st.s.srv.exited;
  const took = Date.now() - t0;
  assert.equal(exit.code, 0, `a clean exit, not the hard deadline: ${st.s.srv.output()}`);
  assert.ok(took >= grace - 1000, `gave the running analysis the grace period (${took} ms of ${grace})`);

  const db = storeView(st.s.dataDir);
  assert.equal(db.session(st.streamingId).status, "ended");
  assert.ok(db.segments(st.streamingId).length > st.seenFinals.length);
  const open = [...db.jobs(st.waitingId), ...db.jobs(st.streamingId)].map((j) => j.status);
  assert.ok(open.length === 2 && open.every((x) => x === "pending"), `both analyses are kept, back in the queue: ${open}`);
  db.close();

  await llm.set("answer");
  const again = await startFaultServer(llm, {}, st.s.dataDir);
  for (const id of [st.waitingId, st.streamingId]) {
    const rep = await reportOverRest(again, id, st.token);
    assert.equal(rep.report.status, "complete");
    assert.equal(rep.report.llm_status, "ok");
  }
  assert.equal((await again.srv.stop("SIGTERM")).code, 0, again.srv.output());
});
