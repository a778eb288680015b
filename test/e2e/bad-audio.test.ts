// Issue 4, acceptance 6, over the wire: bad audio (odd byte counts, NaN, a 10 MB frame, an
// impossible declared rate) gets typed errors on its own session, while another session on the
// same server and the same Whisper model streams on and gets its finals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authed, type Recorded } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, startPipeline, wavChunks } from "../helpers/pipeline.js";
import { https } from "../faults/_util.js";

function errorsOf(c: Recorded): { code: string; fatal: boolean }[] {
  return c.messages.filter((m) => m.type === "error").map((m) => ({ code: m.code as string, fatal: m.fatal as boolean }));
}

test("bad audio gets typed errors on its own session; a healthy session streams on", { timeout: 240_000 }, async () => {
  const { app, ca } = await startPipeline({ PARLANCE_LIMITS_MAX_FRAME_BYTES: String(512 * 1024) });
  const gw = { wsUrl: app.gateway.wsUrl, ca };

  const healthy = await authed(gw, await hsToken({ sub: "healthy" }));
  await healthy.next("ready");
  const streaming = sendPaced(healthy.ws, wavChunks("jfk.wav"));

  // Odd byte count in s16le: a non-fatal bad_audio, and the session keeps accepting audio.
  const odd = await authed(gw, await hsToken({ sub: "odd" }));
  await odd.next("ready");
  odd.ws.send(Buffer.alloc(8001));
  const oddErr = await odd.next("error");
  assert.deepEqual({ code: oddErr.code, fatal: oddErr.fatal }, { code: "bad_audio", fatal: false });
  await sendPaced(odd.ws, wavChunks("jfk.wav").slice(0, 8));
  odd.ws.send(JSON.stringify({ type: "end" }));
  const ended = await odd.next("ended", 60_000);
  assert.ok((ended.audio_ms as number) >= 1900, `the good audio after the bad frame was used: ${ended.audio_ms} ms`);

  // NaN in pcm_f32le: non-fatal bad_audio.
  const nan = await authed(gw, await hsToken({ sub: "nan" }), { encoding: "pcm_f32le", sample_rate: 16000, channels: 1 });
  await nan.next("ready");
  const f = new Float32Array(4000).fill(0.01);
  f[100] = Number.NaN;
  nan.ws.send(Buffer.from(f.buffer));
  const nanErr = await nan.next("error");
  assert.deepEqual({ code: nanErr.code, fatal: nanErr.fatal }, { code: "bad_audio", fatal: false });

  // A 10 MB frame: refused by the frame limit, that connection closes with 4413.
  const huge = await authed(gw, await hsToken({ sub: "huge" }));
  await huge.next("ready");
  huge.ws.send(Buffer.alloc(10 * 1024 * 1024));
  const hugeClose = await huge.closed;
  assert.equal(hugeClose.code, 4413, JSON.stringify(huge.messages));

  // A declared rate no microphone has: refused at auth with a typed error, never `ready`.
  const rate = await authed(gw, await hsToken({ sub: "rate" }), { encoding: "pcm_s16le", sample_rate: 96000, channels: 1 });
  const rateClose = await rate.closed;
  assert.ok(!rate.messages.some((m) => m.type === "ready"));
  const rateErr = errorsOf(rate)[0];
  assert.ok(rateErr && rateErr.fatal, JSON.stringify(rate.messages));
  assert.ok([4400, 4415].includes(rateClose.code), `close ${rateClose.code}`);

  // The healthy session was unaffected: it streamed to the end and got its finals.
  await streaming;
  healthy.ws.send(JSON.stringify({ type: "end" }));
  const healthyEnded = await healthy.next("ended", 90_000);
  assert.equal(errorsOf(healthy).length, 0, JSON.stringify(errorsOf(healthy)));
  assert.ok(healthy.messages.some((m) => m.type === "final"), "finals for the healthy session");
  assert.ok((healthyEnded.audio_ms as number) > 10_000);

  // And the server still serves.
  const health = await https(app.gateway.url, ca, "GET", "/healthz");
  assert.equal(health.status, 200);
  const bad = await https(app.gateway.url, ca, "GET", "/metrics");
  assert.match(bad.text, /parlance_bad_audio_frames_total\{code="bad_audio"\} [1-9]/);
  for (const c of [odd, nan, healthy]) c.ws.close();
});
