// Issue 8: a client that vanishes mid-utterance (TCP gone, no close frame) loses nothing: what
// was committed is stored, the speech still pending is committed at the disconnect, and the
// session analysis runs and is available over REST.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authed } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { ScriptedLlm, reportOverRest, startFaultServer, until } from "./_util.js";

test("client disconnects mid-utterance: committed text is stored, pending speech committed, analysis runs", { timeout: 240_000 }, async () => {
  const llm = await ScriptedLlm.create("answer");
  const s = await startFaultServer(llm);
  const token = await hsToken({ sub: "vanishing-learner" });

  const c = await authed(s.gw, token);
  const ready = await c.next("ready", 30_000);
  const id = ready.session_id as string;
  const chunks = wavChunks("jfk.wav");
  const streaming = sendPaced(c.ws, chunks, 250, 2);
  // Mid-utterance: something is committed and a newer, uncommitted hypothesis is on screen.
  await c.next("final", 90_000);
  await until("a partial after the first final", () => {
    const firstFinal = c.messages.findIndex((m) => m.type === "final");
    return c.messages.slice(firstFinal + 1).some((m) => m.type === "partial" && (m.text as string).length > 0);
  }, 90_000);
  const seenFinals = c.messages.filter((m) => m.type === "final");
  // Abrupt: the TCP connection goes away without a WebSocket close frame.
  c.ws.terminate();
  await streaming;
  await c.closed;
  assert.equal(c.messages.some((m) => m.type === "ended"), false, "the client never saw the end of its session");

  const session = await until("session marked ended", async () => {
    const r = await s.get(`/v1/sessions/${id}`, token);
    return r.status === 200 && r.body.session.status === "ended" ? r.body : null;
  }, 60_000, 200);
  const stored = session.transcript.segments as { segment_id: number; text: string; words: unknown[] }[];
  for (const f of seenFinals) {
    const seg = stored.find((x) => x.segment_id === f.segment_id);
    assert.ok(seg, `final ${f.segment_id} is stored`);
    assert.equal(seg.text, f.text);
    assert.deepEqual(seg.words, f.words);
  }
  assert.ok(stored.length > seenFinals.length, `the speech pending at the disconnect was committed too (${stored.length} stored, ${seenFinals.length} seen)`);
  assert.ok(session.session.audio_ms > 0);

  const rep = await reportOverRest(s, id, token);
  assert.equal(rep.report.session_id, id);
  assert.equal(rep.report.status, "complete");
  assert.equal(rep.report.llm_status, "ok", "the analysis ran through the LLM chain");
  assert.equal(rep.report.transcript.text, session.transcript.text, "the report analyses the stored transcript");
  assert.ok(llm.answered >= 1);

  const exit = await s.srv.stop("SIGTERM");
  assert.equal(exit.code, 0, s.srv.output());
});
