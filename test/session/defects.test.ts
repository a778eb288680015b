// Regression tests for the session defects fixed in issue 14, each against a real TLS gateway, a
// real ws client (or the SDK) and a real SQLite store; only the failure itself is injected (a
// store write or queue call that throws), outside the unit under test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { connect as sdkConnect, ConnectionClosedError, type ServerMessage } from "../../src/client/index.js";
import { SqliteRepository } from "../../src/store/index.js";
import type { Repository } from "../../src/store/types.js";
import type { AnalysisQueue } from "../../src/jobs/types.js";
import { parseWav } from "../../src/audio/wav.js";
import { silentLogger } from "../../src/util/log.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { hsToken } from "../helpers/tokens.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { startClientTestServer } from "../client/_server.js";

const jfk = parseWav(readFileSync(join(AUDIO_DIR, "jfk.wav")));
const pcm = new Int16Array(jfk.pcm.buffer, jfk.pcm.byteOffset, jfk.pcm.length / 2);

/** A real SQLite repository whose segment writes start failing after `okWrites` of them. */
async function failingStore(okWrites: number): Promise<{ repo: Repository; writes: () => number }> {
  const repo = new SqliteRepository({ path: join(tempDir(), "s.db"), logger: silentLogger });
  await repo.migrate();
  let n = 0;
  const append = repo.appendSegment.bind(repo);
  repo.appendSegment = async (seg) => {
    if (++n > okWrites) throw new Error("disk full (injected)");
    return append(seg);
  };
  return { repo, writes: () => n };
}

/** Iterates the SDK session into `out` until it ends (the close's error ends it too). */
async function collect(session: AsyncIterable<ServerMessage>, out: ServerMessage[]): Promise<void> {
  try {
    for await (const m of session) out.push(m);
  } catch {
    // the iteration ends with the close's error; the messages are what the test reads
  }
}

/** Sends jfk.wav's samples [from, to) in 250 ms chunks at 4x real time (the fake engine "hears" it as it goes). */
async function sendJfk(send: (chunk: Int16Array) => void, isOpen: () => boolean, from = 0, to = pcm.length) {
  for (let i = from; i < to && isOpen(); i += 4000) {
    send(pcm.subarray(i, Math.min(i + 4000, to)));
    await new Promise((r) => setTimeout(r, 62));
  }
}

async function until(cond: () => boolean, what: string, ms = 10_000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}


/** An analysis queue whose every enqueue fails, as a Redis or store outage does. */
function queueDown(): AnalysisQueue {
  return {
    async enqueue() {
      throw new Error("queue down (injected)");
    },
    subscribe: () => () => {},
    async close() {},
  };
}

test("store failure: a segment write that throws gives fatal internal_error, then ended with what was committed, then close 1011; SDK end() settles", async () => {
  const { repo, writes } = await failingStore(1);
  const gw = await startClientTestServer({ deps: { store: repo } });
  const session = await sdkConnect(gw.wsUrl, { token: await hsToken({ sub: "store-fail" }), WebSocket: WebSocket as never, ca: gw.ca });
  const all: ServerMessage[] = [];
  const events = collect(session, all);
  const half = pcm.length / 2;
  // First half, flushed: one final, stored. The second half's final (at end) is the write that fails.
  await sendJfk((c) => session.sendAudio(c), () => true, 0, half);
  session.flush();
  await until(() => all.some((m) => m.type === "final"), "the first final");
  // The failing write may come before end() (at the next pause): sending stops at the close.
  let open = true;
  const send = (c: Int16Array) => {
    try {
      session.sendAudio(c);
    } catch {
      open = false;
    }
  };
  await sendJfk(send, () => open, half);
  const outcome = await Promise.race([
    session.end().then(
      () => "resolved",
      (e: unknown) => e,
    ),
    new Promise((r) => setTimeout(() => r("still pending after 10 s"), 10_000).unref()),
  ]);
  await events;
  const types = all.map((m) => (m.type === "error" ? `error:${m.code}:${m.fatal}` : m.type));
  assert.ok(writes() >= 2, `the store was asked for a second segment (${writes()})`);
  const err = types.indexOf("error:internal_error:true");
  assert.ok(err >= 0, `fatal internal_error expected, got ${types.join(",")}`);
  const ended = types.indexOf("ended");
  assert.ok(ended > err, `ended after the error expected, got ${types.join(",")}`);
  const endedMsg = all[ended] as Extract<ServerMessage, { type: "ended" }>;
  const finals = all.filter((m): m is Extract<ServerMessage, { type: "final" }> => m.type === "final");
  assert.equal(finals.length, 1, "only the stored final was sent");
  assert.equal(endedMsg.segments, 1);
  assert.equal(endedMsg.text, finals[0]!.text);
  assert.ok(outcome instanceof ConnectionClosedError, `end() settles with the close, got ${String(outcome)}`);
  assert.equal(outcome.code, 1011);
  assert.equal(outcome.serverError?.code, "internal_error");
  // What was committed is kept, and the record is closed (after the close frame: wait for the commit).
  await until(() => gw.sessions.size === 0, "the session's commit");
  const rec = await repo.getSession(session.sessionId!);
  assert.equal(rec?.status, "ended");
  assert.equal((await repo.getSegments(session.sessionId!)).length, 1);
  await repo.close();
});

test("enqueue failure: a per-utterance analysis that cannot be queued follows the same policy (internal_error, ended, 1011)", async () => {
  const broken = queueDown();
  const gw = await startClientTestServer({ deps: { analysis: broken } });
  const c = await authed(gw, await hsToken({ sub: "enqueue-fail" }), { analyze_utterances: true });
  await c.next("ready");
  const open = () => c.ws.readyState === c.ws.OPEN;
  // The speech, then silence: the pause ends the utterance, whose analysis is the enqueue that fails.
  void sendJfk((chunk) => c.ws.send(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)), open).then(async () => {
    for (let i = 0; i < 12 && open(); i++) {
      c.ws.send(Buffer.alloc(8000));
      await new Promise((r) => setTimeout(r, 62));
    }
  });
  const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
  const types = c.messages.map((m) => (m.type === "error" ? `error:${String(m.code)}:${String(m.fatal)}` : String(m.type)));
  assert.ok(closed, `the session closes, got ${types.join(",")}`);
  assert.equal(closed.code, 1011);
  const err = types.indexOf("error:internal_error:true");
  assert.ok(err >= 0 && types.indexOf("ended") > err, `internal_error then ended expected, got ${types.join(",")}`);
});

test("finishing -> closed: after end, ended and the close, the session's state is closed", async () => {
  const gw = await startClientTestServer();
  const c = await authed(gw, await hsToken({ sub: "to-closed" }));
  const ready = await c.next("ready");
  const live = gw.liveSession(String(ready.session_id));
  assert.ok(live);
  await sendJfk((chunk) => c.ws.send(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)), () => c.ws.readyState === c.ws.OPEN);
  c.ws.send(JSON.stringify({ type: "end" }));
  await c.next("report", 15_000);
  assert.equal((await c.closed).code, 1000);
  await live.done;
  const state = (live as unknown as { state: unknown }).state;
  assert.equal(state, "closed");
});

test("analysis queue down at end: analysis_failed, then the server closes (1000) instead of holding the socket open", async () => {
  const broken = queueDown();
  const gw = await startClientTestServer({ deps: { analysis: broken } });
  const c = await authed(gw, await hsToken({ sub: "queue-down" }));
  await c.next("ready");
  c.ws.send(Buffer.from(pcm.buffer, pcm.byteOffset, 16000 * 2));
  c.ws.send(JSON.stringify({ type: "end" }));
  await c.next("error", 10_000, (m) => m.code === "analysis_failed");
  const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 5_000).unref())]);
  assert.ok(closed, `the server closes; got ${JSON.stringify(c.messages.map((m) => m.type))}`);
  assert.equal(closed.code, 1000);
  c.ws.close();
});

test("a client that leaves while its session record is being written: the record is marked ended, not left streaming", async () => {
  const repo = new SqliteRepository({ path: join(tempDir(), "s.db"), logger: silentLogger });
  await repo.migrate();
  let created: (() => void) | null = null;
  const writing = new Promise<void>((r) => (created = r));
  let id: string | null = null;
  const create = repo.createSession.bind(repo);
  repo.createSession = async (rec) => {
    id = rec.id;
    await create(rec);
    await writing; // the write is slow: the client leaves meanwhile
  };
  const gw = await startClientTestServer({ deps: { store: repo } });
  const c = await authed(gw, await hsToken({ sub: "leaves-early" }));
  await until(() => id !== null, "the record write");
  c.ws.terminate();
  await until(() => gw.sessions.size === 0 || [...gw.sessions].every((s) => (s as unknown as { state: string }).state === "closed"), "the session to close");
  created!();
  await until(() => gw.sessions.size === 0, "the gateway to drop the session");
  await new Promise((r) => setTimeout(r, 50)); // let the session's own clean-up write land
  const rec = await repo.getSession(id!);
  assert.equal(rec?.status, "ended");
  await repo.close();
});
