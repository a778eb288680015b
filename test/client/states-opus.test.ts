// Issue 15: a server that cannot transcribe (no Whisper model) refuses sessions honestly: error
// `stt_unavailable` and close 4503 on the wire, a distinct, non-retryable ServiceUnavailableError
// in the SDK (one connection attempt even through connectWithRetry), and its own exit code and
// message in `parlance stream`. The SDK sends Opus container bytes as they are, and
// `parlance stream --encoding opus` sends an Ogg file as it is or encodes other files first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import {
  connect,
  connectWithRetry,
  isRetryable,
  ServiceUnavailableError,
  ServerBusyError,
  ParlanceClientError,
  CloseCode,
} from "../../src/client/index.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { hsToken } from "../helpers/tokens.js";
import { startClientTestServer } from "./_server.js";

const NOT_SET_UP = 'speech recognition is not set up on this server: Whisper model "tiny.en" not found. Download it with `parlance models pull tiny.en`';
const ROOT = resolve(import.meta.dirname, "../..");

async function unavailableServer() {
  const gw = await startClientTestServer({ deps: { sttUnavailable: NOT_SET_UP } });
  let upgrades = 0;
  gw.server.on("upgrade", () => upgrades++);
  return Object.assign(gw, { upgrades: () => upgrades });
}

test("wire: stt_unavailable is a fatal error followed by close 4503, not busy/1013", async () => {
  const gw = await unavailableServer();
  const c = await authed(gw, await hsToken({ sub: "raw" }));
  const closed = await c.closed;
  assert.equal(closed.code, 4503);
  assert.equal(CloseCode.sttUnavailable, 4503);
  const types = c.messages.map((m) => m.type);
  assert.deepEqual(types, ["error"], "no busy message: the server is not busy");
  assert.equal(c.messages[0]!.code, "stt_unavailable");
  assert.equal(c.messages[0]!.fatal, true);
  assert.match(String(c.messages[0]!.message), /parlance models pull tiny\.en/);
});

test("SDK: ServiceUnavailableError, not retryable; connectWithRetry makes exactly one attempt", async () => {
  const gw = await unavailableServer();
  const token = await hsToken({ sub: "sdk" });
  const err = await connect(gw.wsUrl, { token, WebSocket: WebSocket as never, ca: gw.ca }).then(
    () => assert.fail("connected"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ServiceUnavailableError, String(err));
  assert.ok(!(err instanceof ServerBusyError));
  assert.equal(err.code, "stt_unavailable");
  assert.match(err.message, /not set up on this server: run `parlance models pull tiny\.en`/);
  assert.equal(isRetryable(err), false);
  assert.equal(gw.upgrades(), 1);
  const retried: unknown[] = [];
  await assert.rejects(
    connectWithRetry(gw.wsUrl, { token, WebSocket: WebSocket as never, ca: gw.ca }, { retries: 5, baseDelayMs: 10, onRetry: (i) => retried.push(i) }),
    ServiceUnavailableError,
  );
  assert.deepEqual(retried, []);
  assert.equal(gw.upgrades(), 2, "one more attempt, no retries");
});

test("CLI: parlance stream names the fix and exits 6", async () => {
  const gw = await unavailableServer();
  const dir = tempDir();
  const ca = join(dir, "ca.pem");
  (await import("node:fs")).writeFileSync(ca, gw.ca);
  const child = spawn(process.execPath, ["bin/parlance.js", "stream", join(AUDIO_DIR, "jfk.wav"), "--url", gw.wsUrl, "--token", await hsToken({ sub: "cli" }), "--ca", ca], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  assert.equal(code, 6, out);
  assert.match(out, /speech recognition is not set up on this server: run `parlance models pull tiny\.en`/);
  assert.doesNotMatch(out, /busy/);
});

test("SDK sends Opus container bytes untouched and refuses samples for opus", async () => {
  const gw = await startClientTestServer();
  const dir = tempDir();
  const ogg = join(dir, "jfk.ogg");
  execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", join(AUDIO_DIR, "jfk.wav"), "-c:a", "libopus", "-b:a", "24k", ogg]);
  const bytes = readFileSync(ogg);
  const s = await connect(gw.wsUrl, { token: await hsToken({ sub: "opus" }), WebSocket: WebSocket as never, ca: gw.ca, config: { encoding: "opus" } });
  assert.equal(s.readyMessage?.audio.encoding, "opus");
  assert.throws(() => s.sendAudio(new Int16Array(4000)), ParlanceClientError);
  for (let at = 0; at < bytes.length; at += 750) {
    s.sendAudio(new Uint8Array(bytes.buffer, bytes.byteOffset + at, Math.min(750, bytes.length - at)));
    await new Promise((r) => setTimeout(r, 40));
  }
  const report = await s.end();
  s.close();
  assert.match(report.transcript.text, /ask what you can do for your country/);
  // Decoded on the server to the file's 11 s (to 50 ms).
  assert.ok(Math.abs(gw.receivedSeconds()[0]! - 11) < 0.05, String(gw.receivedSeconds()[0]));
});

test("CLI --encoding opus: an Ogg file is sent as it is, a WAV is encoded to Ogg/Opus first; both paced and reported", { timeout: 120_000 }, async () => {
  const gw = await startClientTestServer();
  const dir = tempDir();
  const ca = join(dir, "ca.pem");
  (await import("node:fs")).writeFileSync(ca, gw.ca);
  const ogg = join(dir, "jfk.ogg");
  execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", join(AUDIO_DIR, "jfk.wav"), "-c:a", "libopus", "-b:a", "24k", ogg]);
  const run = (input: string) =>
    new Promise<{ code: number | null; out: string; err: string; seconds: number }>(async (res) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, ["bin/parlance.js", "stream", input, "--encoding", "opus", "--speed", "4", "--json", "--url", gw.wsUrl, "--token", await hsToken({ sub: "cli-opus" }), "--ca", ca], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("exit", (code) => res({ code, out, err, seconds: (performance.now() - t0) / 1000 }));
    });
  for (const [input, how] of [[ogg, /ogg\/opus, 11\.0 s, 24 kbit\/s, sent as it is/], [join(AUDIO_DIR, "jfk.wav"), /ogg\/opus, 11\.0 s, \d+ kbit\/s, ffmpeg -> Ogg\/Opus 24 kbit\/s/]] as const) {
    const r = await run(input);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, how);
    const report = JSON.parse(r.out) as { transcript: { text: string } };
    assert.match(report.transcript.text, /ask what you can do for your country/);
    // 11 s at --speed 4: paced (not dumped at once), so at least ~2.7 s.
    assert.ok(r.seconds > 2.5, `${r.seconds} s`);
  }
  const decoded = gw.receivedSeconds();
  assert.equal(decoded.length, 2);
  for (const s of decoded) assert.ok(Math.abs(s - 11) < 0.05, String(s));
});

test("opus counts against the learner's audio rate by its decoded length, not its (ten times smaller) byte count", { timeout: 60_000 }, async () => {
  const gw = await startClientTestServer({ env: { PARLANCE_LIMITS_AUDIO_BURST_MS: "3000", PARLANCE_LIMITS_AUDIO_REALTIME_RATIO: "1" } });
  const dir = tempDir();
  const ogg = join(dir, "jfk.ogg");
  execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", join(AUDIO_DIR, "jfk.wav"), "-c:a", "libopus", "-b:a", "24k", ogg]);
  const bytes = readFileSync(ogg); // 33 KB: as PCM bytes that would be "1 s" of audio
  const c = await authed(gw, await hsToken({ sub: "fast-opus" }), { encoding: "opus" });
  await c.next("ready");
  for (let at = 0; at < bytes.length; at += 750) c.ws.send(bytes.subarray(at, at + 750));
  const err = await c.next("error", 20_000);
  assert.equal(err.code, "rate_limited");
  c.ws.close();
});
