// Issue 8: a client that stops reading. The server's queue for it is bounded
// (PARLANCE_LIMITS_MAX_BUFFERED_BYTES, default 1 MiB): above a quarter of it partials are dropped
// while committed results still go out; above the bound the connection is closed with 4429
// (`slow_consumer`), the transcript is kept, and the process's memory stays flat.
//
// Loopback TCP buffers absorb about 4 MB before anything queues in the server process, far more
// than a session's transcript messages fill in a reasonable time, so the paused client also sends
// invalid control messages: each earns an `invalid_message` error it never reads. That is also
// the cheapest way for a hostile client to make the server queue output, so it must be bounded too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authed, type Recorded } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { ScriptedLlm, metricValue, sleep, startFaultServer, until, type FaultServer } from "./_util.js";

const MAX_BUFFERED = 1024 * 1024; // the documented default, set explicitly so the test says what it checks
const JUNK = JSON.stringify({ type: "nonsense" });

const metric = async (s: FaultServer, name: string, labels = "") => {
  const v = metricValue(await s.metrics(), name, labels);
  return Number.isNaN(v) ? 0 : v;
};

/**
 * Sends invalid control messages in batches until `stop` says so. Between batches it waits until
 * the server has answered the whole batch (or stopped answering: closed), so a busy server cannot
 * make the test overshoot what it meant to fill.
 */
async function flood(s: FaultServer, c: Recorded, batch: number, stop: () => Promise<boolean>, maxBatches = 400): Promise<number> {
  let owed = await metric(s, "parlance_messages_out_total", 'type="error"');
  for (let i = 0; i < maxBatches; i++) {
    for (let j = 0; j < batch; j++) c.ws.send(JUNK);
    owed += batch;
    await until("the server to answer the batch", async () =>
      (await metric(s, "parlance_messages_out_total", 'type="error"')) >= owed || (await metric(s, "parlance_slow_consumer_closes_total")) > 0,
    60_000, 100);
    if (await stop()) return i + 1;
  }
  throw new Error(`flood: condition not reached after ${maxBatches} batches of ${batch}`);
}

test("slow reader: partials dropped first, then close 4429 at the bound; transcript kept; memory flat", { timeout: 300_000 }, async () => {
  const llm = await ScriptedLlm.create("answer");
  const s = await startFaultServer(llm, {
    PARLANCE_LIMITS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
    // A paused client cannot answer pings either; keep the dead-peer check out of this test's way.
    PARLANCE_LIMITS_PING_INTERVAL_MS: "600000",
  });
  const token = await hsToken({ sub: "slow-reader" });
  const speech = [...wavChunks("jfk.wav"), ...wavChunks("jfk.wav"), ...wavChunks("jfk.wav")];

  const c = await authed(s.gw, token);
  const ready = await c.next("ready", 30_000);
  c.ws.pause(); // stops reading: from here on the server's output piles up
  const streaming = sendPaced(c.ws, speech, 250, 1);

  // 1. Fill until the server itself holds more than a quarter of the bound, well short of the bound.
  await flood(s, c, 1000, async () => (await metric(s, "parlance_send_buffered_bytes")) > MAX_BUFFERED / 4);
  const held = await metric(s, "parlance_send_buffered_bytes");
  assert.ok(held < MAX_BUFFERED, `filled past the bound in one step (${held})`);
  assert.equal(await metric(s, "parlance_closes_total", 'code="4429"'), 0);

  // 2. Speech keeps coming: partials are dropped, committed results are still queued for the client.
  const finalsBefore = await metric(s, "parlance_messages_out_total", 'type="final"');
  await until("a partial dropped", async () => (await metric(s, "parlance_dropped_partials_total")) > 0, 120_000, 500);
  await until("a final still sent", async () => {
    c.ws.send(JSON.stringify({ type: "flush" })); // commit what is pending now, rather than wait for agreement
    return (await metric(s, "parlance_messages_out_total", 'type="final"')) > finalsBefore;
  }, 120_000, 3000);
  assert.equal(await metric(s, "parlance_slow_consumer_closes_total"), 0, "not closed yet: only partials were shed");
  assert.equal(await metric(s, "parlance_connections", 'state="streaming"'), 1);

  // 3. Past the bound: the server stops queuing and closes with the documented code.
  await flood(s, c, 1000, async () => (await metric(s, "parlance_slow_consumer_closes_total")) === 1);
  const atBound = await metric(s, "parlance_send_buffered_bytes");
  for (let j = 0; j < 5000; j++) c.ws.send(JUNK); // more answers owed, none of them queued
  await sleep(1000);
  const stillAtBound = await metric(s, "parlance_send_buffered_bytes");
  assert.ok(atBound > MAX_BUFFERED && atBound < MAX_BUFFERED + 16 * 1024, `queue at the bound: ${atBound}`);
  assert.equal(stillAtBound, atBound, "nothing more is queued once the bound is hit");
  c.ws.resume(); // read it all now: the queued results, then the reason for the close
  const close = await c.closed;
  assert.equal(close.code, 4429);
  const last = c.messages.at(-1)!;
  assert.equal(last.type, "error");
  assert.equal(last.code, "slow_consumer");
  assert.equal(last.fatal, true);
  const types = c.messages.map((m) => m.type);
  const lastPartial = types.lastIndexOf("partial");
  assert.ok(types.indexOf("final", lastPartial + 1) > lastPartial, "finals were delivered after partials stopped");
  assert.equal(await metric(s, "parlance_closes_total", 'code="4429"'), 1);
  await streaming;

  // The transcript is stored in full: every final the server committed, including those the client never got.
  const session = await until("session ended", async () => {
    const r = await s.get(`/v1/sessions/${ready.session_id}`, token);
    return r.body?.session?.status === "ended" ? r.body : null;
  }, 60_000, 250);
  const received = c.messages.filter((m) => m.type === "final");
  assert.equal(session.transcript.segments.length, await metric(s, "parlance_finals_total"));
  for (const f of received) assert.ok(session.transcript.segments.some((x: { segment_id: number }) => x.segment_id === f.segment_id));

  // 4. Memory: three clients that never read and keep sending junk well past the bound (several
  //    times it, if it were queued). The first round is the warm-up (heap, TLS, decoder states);
  //    after the second the process's RSS must be where the first left it.
  const hogRound = async (closedBefore: number) => {
    const hogs = await Promise.all([0, 1, 2].map(() => authed(s.gw, token)));
    await Promise.all(hogs.map((h) => h.next("ready", 30_000)));
    for (const h of hogs) h.ws.pause();
    const audio = hogs.map((h) => sendPaced(h.ws, wavChunks("jfk.wav"), 250, 2));
    // 100 000 answers of ~170 bytes each: ~17 MB per client if nothing bounded them.
    for (let round = 0; round < 20; round++) {
      for (const h of hogs) for (let j = 0; j < 5000; j++) h.ws.send(JUNK);
      await sleep(100);
    }
    await until("all three closed at the bound", async () => (await metric(s, "parlance_slow_consumer_closes_total")) === closedBefore + 3, 120_000, 500);
    const held = await metric(s, "parlance_send_buffered_bytes");
    assert.ok(held < 3 * (MAX_BUFFERED + 16 * 1024), `at most the bound per connection is held: ${held}`);
    await Promise.all(audio);
    for (const h of hogs) h.ws.terminate();
    await until("their queues released", async () => (await metric(s, "parlance_send_buffered_bytes")) === 0, 30_000, 250);
    // Measure at rest: each session's last decode (a whisper state of its own) has finished.
    await until("every session ended", async () => {
      const r = await s.get("/v1/sessions?limit=200", token);
      return r.status === 200 && r.body.sessions.every((x: { status: string }) => x.status === "ended");
    }, 120_000, 500);
    await sleep(2000);
  };
  await hogRound(1);
  const baseline = s.srv.rssKb();
  await hogRound(4);
  const after = s.srv.rssKb();
  console.log(`# RSS after a warm-up round ${baseline} kB, after a second round of three flooding slow readers ${after} kB (x${(after / baseline).toFixed(2)})`);
  assert.ok(after < baseline * 1.5, `RSS grew from ${baseline} kB to ${after} kB`);

  const exit = await s.srv.stop("SIGTERM");
  assert.equal(exit.code, 0, s.srv.output());
});
