// Closing a session abandons its speech stream (SpeechStream.close(), which cancels the decode in
// flight) on every path to `closed`: after `end`, on a client disconnect, on a fatal error after
// `ready` (idle timeout) and on server shutdown. Real gateway, real SttService and stream over
// the scripted transcriber; the only addition is a wrapper that records close() calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { createSttService } from "../../src/stt/service.js";
import { FakeTranscriber, timelineResponder } from "../../src/stt/fake.js";
import type { SttService } from "../../src/stt/types.js";
import { parseWav } from "../../src/audio/wav.js";
import { silentLogger } from "../../src/util/log.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { hsToken } from "../helpers/tokens.js";
import { authed, startTestGateway, testConfig, type Recorded, type TestGateway } from "../helpers/gateway.js";
import { createAudioIngest } from "../../src/audio/ingest.js";
import { jfkScript } from "../client/_server.js";
import type { Session } from "../../src/session/session.js";

const jfk = parseWav(readFileSync(join(AUDIO_DIR, "jfk.wav")));

interface Recording {
  stt: SttService;
  closed: Set<string>;
}

async function recordingStt(env: Record<string, string>): Promise<Recording> {
  const real = await createSttService(testConfig(env), silentLogger, {
    transcriber: new FakeTranscriber({ respond: timelineResponder(jfkScript()), delayMs: 10 }),
    capacityStreams: 8,
  });
  after(() => real.close());
  const closed = new Set<string>();
  const stt: SttService = {
    engineName: real.engineName,
    updateMs: real.updateMs,
    admit: () => real.admit(),
    stats: () => real.stats(),
    onThreadDemand: (l) => real.onThreadDemand(l),
    close: () => real.close(),
    openStream(opts) {
      const s = real.openStream(opts);
      const close = s.close.bind(s);
      s.close = () => {
        closed.add(opts.sessionId);
        close();
      };
      return s;
    },
  };
  return { stt, closed };
}

async function gateway(env: Record<string, string> = {}): Promise<TestGateway & Recording> {
  const full = { PARLANCE_STT_ENGINE: "fake", ...env };
  const rec = await recordingStt(full);
  const gw = await startTestGateway(full, { stt: rec.stt, audio: (cfg) => createAudioIngest(cfg) });
  return Object.assign(gw, rec);
}

/** Two seconds of jfk.wav, then the live Session object for the connection. */
async function streaming(gw: TestGateway, sub: string): Promise<{ c: Recorded; s: Session; id: string }> {
  const c = await authed(gw, await hsToken({ sub }));
  const id = String((await c.next("ready")).session_id);
  const s = gw.liveSession(id)!;
  c.ws.send(jfk.pcm.subarray(0, 2 * 32000));
  return { c, s, id };
}

test("end: the stream is closed once the session is", async () => {
  const gw = await gateway();
  const { c, s, id } = await streaming(gw, "end");
  c.ws.send(JSON.stringify({ type: "end" }));
  await c.next("ended");
  assert.equal((await c.closed).code, 1000);
  await s.done;
  assert.ok(gw.closed.has(id), "stream closed");
  assert.equal(s.state, "closed");
});

test("client disconnect mid-stream: the commit runs, then the stream is closed", async () => {
  const gw = await gateway();
  const { c, s, id } = await streaming(gw, "gone");
  c.ws.terminate();
  await s.done;
  assert.ok(gw.closed.has(id), "stream closed");
  assert.equal(s.state, "closed");
});

test("fatal error after ready (idle timeout): the stream is closed", async () => {
  const gw = await gateway({ PARLANCE_LIMITS_IDLE_TIMEOUT_MS: "300" });
  const { c, s, id } = await streaming(gw, "idle");
  assert.equal((await c.closed).code, 4409);
  await s.done;
  assert.ok(gw.closed.has(id), "stream closed");
  assert.equal(s.state, "closed");
});

test("server shutdown: every live session's stream is closed", async () => {
  const gw = await gateway();
  const a = await streaming(gw, "shut-a");
  const b = await streaming(gw, "shut-b");
  await gw.close(5000);
  for (const x of [a, b]) {
    assert.equal((await x.c.closed).code, 1001);
    assert.ok(gw.closed.has(x.id), `stream of ${x.id} closed`);
    assert.equal(x.s.state, "closed");
  }
});
