// Issue 4 acceptance 1, issue 5 acceptance 1 and issue 6 acceptance 4-5, end to end: a client
// streams real speech over wss in 250 ms chunks at real-time pace to a real Whisper runtime,
// ends, and receives a schema-valid report produced by a real GGUF model through the LangChain
// chain; the report is stored and served over REST to its owner only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request } from "node:https";
import { ServerMessage, Report } from "../../src/protocol/index.js";
import { authed } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, startPipeline, wavChunks } from "../helpers/pipeline.js";

function rest(base: string, ca: string, method: string, path: string, token?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent: new Agent({ ca }), headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("stream jfk.wav in real time -> partials ~1/s, finals, utterance_end, end -> report; REST owner-only", { timeout: 240_000 }, async () => {
  const { app, ca } = await startPipeline();
  const gw = { wsUrl: app.gateway.wsUrl, ca };
  const token = await hsToken({ sub: "learner-1", extra: { level: "B1" } });
  const c = await authed(gw, token);
  const ready = await c.next("ready");
  const sessionId = ready.session_id as string;
  const arrivals: { type: string; at: number }[] = [];
  const t0 = Date.now();
  c.ws.on("message", (d, bin) => !bin && arrivals.push({ type: JSON.parse(d.toString()).type, at: Date.now() - t0 }));

  const chunks = wavChunks("jfk.wav");
  await sendPaced(c.ws, chunks);
  const streamedMs = Date.now() - t0;
  // Let the trailing silence of the clip produce utterance_end before ending.
  await sendPaced(c.ws, Array.from({ length: 6 }, () => Buffer.alloc(8000)));
  c.ws.send(JSON.stringify({ type: "end" }));
  const ended = await c.next("ended", 60_000);
  await c.next("analysis_started", 10_000);
  // When an LLM runs, the parts that need none come first (status pending), then the complete
  // report on the same job; an unusable transcript (random weights may give one) goes straight to it.
  const firstJob = (await c.next("report", 180_000)).job_id;
  const reportMsg = await c.next("report", 180_000, (m) => (m.report as { status: string }).status !== "pending");
  assert.equal(reportMsg.job_id, firstJob);
  const closed = await c.closed;
  assert.equal(closed.code, 1000);

  // Every message matches the protocol schema, and seq counts up without gaps.
  for (const m of c.messages) assert.ok(ServerMessage.safeParse(m).success, `schema: ${JSON.stringify(m).slice(0, 300)}`);
  assert.deepEqual(c.messages.map((m) => m.seq), c.messages.map((_m, i) => i));

  // Partials about every second while streaming.
  const partialTimes = arrivals.filter((a) => a.type === "partial" && a.at <= streamedMs).map((a) => a.at);
  assert.ok(partialTimes.length >= 5, `partials while streaming 11 s: ${partialTimes.length}`);
  const gaps = partialTimes.slice(1).map((t, i) => t - partialTimes[i]!);
  const medianGap = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
  console.log(`# partials: ${partialTimes.length}, median gap ${medianGap} ms`);
  assert.ok(medianGap > 500 && medianGap < 2500, `partial cadence ~1 s (median gap ${medianGap} ms)`);

  const finals = c.messages.filter((m) => m.type === "final");
  assert.ok(finals.length >= 1, "finals were committed");
  assert.ok(c.messages.some((m) => m.type === "utterance_end"), "utterance_end after the silence");
  assert.deepEqual(finals.map((f) => f.segment_id), finals.map((_f, i) => i));
  const committed = finals.map((f) => f.text as string).join(" ").replace(/\s+/g, " ").trim();
  assert.equal((ended.text as string).replace(/\s+/g, " ").trim(), committed, "ended carries everything committed");
  assert.ok(Math.abs((ended.audio_ms as number) - 11000 - 1500) < 300, `audio_ms ${ended.audio_ms}`);
  for (const m of c.messages.filter((m) => "lag_ms" in m)) assert.ok((m.lag_ms as number) >= 0);

  // The report is schema-valid, about this session, with spans that match the transcript.
  const report = Report.parse(reportMsg.report);
  assert.equal(report.session_id, sessionId);
  assert.equal(report.status, "complete");
  for (const e of report.errors) assert.equal(report.transcript.text.slice(e.start, e.end), e.original);

  // Stored, and served to its owner only.
  const stored = await app.store.getReport(sessionId);
  assert.equal(stored?.report.session_id, sessionId);
  const other = await hsToken({ sub: "someone-else" });
  const base = app.gateway.url;
  assert.equal((await rest(base, ca, "GET", `/v1/sessions/${sessionId}/report`)).status, 401);
  assert.equal((await rest(base, ca, "GET", `/v1/sessions/${sessionId}/report`, other)).status, 404);
  assert.equal((await rest(base, ca, "GET", `/v1/sessions/${sessionId}`, other)).status, 404);
  const mine = await rest(base, ca, "GET", `/v1/sessions/${sessionId}/report`, token);
  assert.equal(mine.status, 200);
  assert.equal(mine.body.report.session_id, sessionId);
  const transcript = await rest(base, ca, "GET", `/v1/sessions/${sessionId}`, token);
  assert.equal(transcript.status, 200);
  assert.equal(transcript.body.transcript.segments.length, finals.length);
  const list = await rest(base, ca, "GET", `/v1/sessions`, token);
  assert.ok(list.body.sessions.some((s: { id: string }) => s.id === sessionId));
  assert.equal((await rest(base, ca, "GET", `/v1/sessions`, other)).body.sessions.length, 0);

  // Right to erasure: transcript, report and job are gone.
  assert.equal((await rest(base, ca, "DELETE", `/v1/sessions/${sessionId}`, other)).status, 404);
  assert.equal((await rest(base, ca, "DELETE", `/v1/sessions/${sessionId}`, token)).status, 204);
  assert.equal((await rest(base, ca, "GET", `/v1/sessions/${sessionId}/report`, token)).status, 404);
  assert.equal(await app.store.getReport(sessionId), null);
  assert.deepEqual(await app.store.getSegments(sessionId), []);
  assert.deepEqual(await app.store.listJobs(sessionId), []);
});
