// The SDK against a real gateway over TLS: streaming to a report, auth failure, busy, reconnect
// after a lost connection, abort.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import {
  connect,
  connectWithRetry,
  AuthFailedError,
  ServerBusyError,
  AbortedError,
  ConnectionClosedError,
  isRetryable,
  type ServerMessage,
} from "../../src/client/index.js";
import { parseWav } from "../../src/audio/wav.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { hsToken } from "../helpers/tokens.js";
import { startClientTestServer } from "./_server.js";

const jfk = parseWav(readFileSync(join(AUDIO_DIR, "jfk.wav")));
const pcm = new Int16Array(jfk.pcm.buffer, jfk.pcm.byteOffset, jfk.pcm.length / 2);
const opts = (gw: { ca: string }, token: string) => ({ token, WebSocket: WebSocket as never, ca: gw.ca });

async function collect(session: AsyncIterable<ServerMessage>): Promise<ServerMessage[]> {
  const out: ServerMessage[] = [];
  for await (const m of session) out.push(m);
  return out;
}

test("streams jfk.wav (fast) and end() resolves with the report; events are typed and ordered", async () => {
  const gw = await startClientTestServer();
  const session = await connect(gw.wsUrl, opts(gw, await hsToken({ sub: "sdk-user" })));
  assert.equal(session.readyMessage?.subject, "sdk-user");
  const events = collect(session);
  // 250 ms chunks, 4x faster than real time keeps this test about three seconds long.
  for (let i = 0; i < pcm.length; i += 4000) {
    session.sendAudio(pcm.subarray(i, i + 4000));
    await new Promise((r) => setTimeout(r, 62));
  }
  const report = await session.end();
  session.close();
  const all = await events;
  const types = all.map((m) => m.type);
  assert.equal(types[0], "ready");
  assert.ok(types.includes("final"), `finals expected, got ${types.join(",")}`);
  assert.ok(types.indexOf("ended") < types.indexOf("report"));
  const finals = all.filter((m) => m.type === "final").map((m) => (m as { text: string }).text).join(" ");
  assert.match(finals, /fellow Americans/);
  assert.equal(report.session_id, session.sessionId);
  assert.match(report.transcript.text, /ask what you can do for your country/);
  // seq numbers only grow (busy carries none)
  const seqs = all.map((m) => ("seq" in m ? m.seq : -1)).filter((s): s is number => s !== undefined && s >= 0);
  assert.deepEqual([...seqs].sort((a, b) => a - b), seqs);
  // The server decoded exactly the audio we sent.
  assert.ok(Math.abs(gw.receivedSeconds()[0]! - pcm.length / 16000) < 0.001);
});

test("a bad token rejects connect with AuthFailedError, not a hang", async () => {
  const gw = await startClientTestServer();
  const bad = await hsToken({}, "a-different-secret-that-is-32-bytes-or-more!!");
  await assert.rejects(connect(gw.wsUrl, opts(gw, bad)), (err: unknown) => {
    assert.ok(err instanceof AuthFailedError, String(err));
    assert.equal(isRetryable(err), false);
    return true;
  });
  const expired = await hsToken({ exp: -3600 });
  await assert.rejects(connect(gw.wsUrl, opts(gw, expired)), AuthFailedError);
});

test("a full server answers busy with retry_after_ms; connectWithRetry gets in once capacity frees", async () => {
  const gw = await startClientTestServer({ capacityStreams: 1 });
  const first = await connect(gw.wsUrl, opts(gw, await hsToken()));
  const err = await connect(gw.wsUrl, opts(gw, await hsToken())).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ServerBusyError, String(err));
  assert.ok(err.retryAfterMs !== null && err.retryAfterMs > 0);
  assert.equal(isRetryable(err), true);

  const retries: number[] = [];
  const pending = connectWithRetry(gw.wsUrl, opts(gw, await hsToken()), {
    retries: 3,
    maxDelayMs: 300, // caps the server's 5 s hint so the test stays short
    onRetry: ({ delayMs }) => retries.push(delayMs),
  });
  // Free the only slot after the first refusal.
  await new Promise((r) => setTimeout(r, 150));
  first.abort();
  const second = await pending;
  assert.ok(retries.length >= 1, "at least one busy refusal was retried");
  assert.ok(retries.every((d) => d === 300));
  assert.ok(second.sessionId);
  second.abort();
});

test("a lost connection surfaces as ConnectionClosedError; reconnecting opens a new session", async () => {
  const gw = await startClientTestServer();
  const token = await hsToken();
  const s1 = await connect(gw.wsUrl, opts(gw, token));
  const it = collect(s1);
  s1.sendAudio(pcm.subarray(0, 4000));
  // The network drops: the server side terminates the TCP connection without a close frame.
  await new Promise((r) => setTimeout(r, 50));
  for (const s of gw.sessions) (s as unknown as { ws: { terminate(): void } }).ws.terminate();
  await assert.rejects(it, (e: unknown) => e instanceof ConnectionClosedError && e.code === 1006 && isRetryable(e));
  assert.throws(() => s1.sendAudio(pcm.subarray(0, 4000)), ConnectionClosedError);
  const s2 = await connectWithRetry(gw.wsUrl, opts(gw, token), { retries: 2, baseDelayMs: 50 });
  assert.notEqual(s2.sessionId, s1.sessionId);
  s2.sendAudio(pcm.subarray(0, 16000));
  const report = await s2.end();
  assert.equal(report.session_id, s2.sessionId);
  s2.close();
});

test("abort() and an AbortSignal end the session at once and reject pending work", async () => {
  const gw = await startClientTestServer({ reportDelayMs: 5000 });
  const s = await connect(gw.wsUrl, opts(gw, await hsToken()));
  const it = collect(s);
  s.sendAudio(new Float32Array(4000)); // converted to s16
  const ending = s.end();
  s.abort("user pressed stop");
  await assert.rejects(ending, AbortedError);
  await assert.rejects(it, AbortedError);
  assert.equal(s.closed, true);

  const ac = new AbortController();
  ac.abort("never mind");
  await assert.rejects(connect(gw.wsUrl, { ...opts(gw, await hsToken()), signal: ac.signal }), AbortedError);

  const ac2 = new AbortController();
  const s2 = await connect(gw.wsUrl, { ...opts(gw, await hsToken()), signal: ac2.signal });
  const it2 = collect(s2);
  ac2.abort();
  await assert.rejects(it2, AbortedError);
});

test("without a CA the dev certificate is refused; rejectUnauthorized:false accepts it", async () => {
  const gw = await startClientTestServer();
  const token = await hsToken();
  await assert.rejects(connect(gw.wsUrl, { token, WebSocket: WebSocket as never }), ConnectionClosedError);
  const s = await connect(gw.wsUrl, { token, WebSocket: WebSocket as never, rejectUnauthorized: false });
  assert.ok(s.sessionId);
  s.abort();
});
