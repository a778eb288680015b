// The whole product with real Whisper weights, as a learner uses it: Debian's Chromium opens the
// practice page of a dev-mode app (real TLS, real store), its fake microphone plays jfk.wav, and
// the live transcript shows the sentence; the final text stored for the session matches it within
// one word error.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeWav16k, readWav } from "../../src/audio/wav.js";
import { tempDir } from "../helpers/gateway.js";
import { AUDIO_DIR, realWhisper } from "../helpers/models.js";
import { launchWithFakeMic } from "../helpers/chromium.js";
import { startPipeline } from "../helpers/pipeline.js";
import { hsToken } from "../helpers/tokens.js";
import { errors, wordErrors } from "../../bench/eval/wer.js";
// @ts-expect-error - plain ESM build script without type declarations
import { buildWeb } from "../../scripts/build-web.mjs";

const JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
const real = await realWhisper();

/**
 * jfk.wav followed by 3 s of silence: the learner pauses after the sentence. Chromium loops the
 * fake microphone's file, and jfk.wav's speech runs to its last sample, so the bare file loops
 * into one run-on utterance that is only committed when the window is full (15 s), cut in the
 * middle of the second pass; the pause makes it end as an utterance does.
 */
function jfkThenPause(): string {
  const wav = readWav(join(AUDIO_DIR, "jfk.wav"));
  const n = wav.pcm.length / 2;
  const samples = new Float32Array(n + 3 * 16000);
  for (let i = 0; i < n; i++) samples[i] = wav.pcm.readInt16LE(i * 2) / 32768;
  const file = join(tempDir("parlance-fake-mic-"), "jfk-then-pause.wav");
  writeFileSync(file, encodeWav16k(samples));
  return file;
}

test(`practice page + real tiny.en (${real.verification}): the JFK sentence live and stored`, { timeout: 240_000 }, async (t) => {
  await buildWeb({ minify: false });
  // Production STT settings: the real model with the default guards and prompt.
  const { app } = await startPipeline({
    PARLANCE_STT_MODEL: real.path,
    PARLANCE_STT_LOGPROB_THRESHOLD: "-1",
  });
  const browser = await launchWithFakeMic(jfkThenPause());
  after(() => browser.close());
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  await page.goto(`${app.gateway.url}/`);
  await page.waitForSelector("body[data-page-ready=true]");
  // The in-process app has no CLI dev-token endpoint (cli/serve.ts adds it): the learner's token is typed in.
  await page.fill("#token", await hsToken({ sub: "browser-real-learner" }));
  await page.click("#start");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 30_000 }).catch(async (e) => {
    throw new Error(`${(e as Error).message}; status ${await page.getAttribute("#status", "data-state")}, message: ${await page.textContent("#message")}`);
  });
  const sessionId = await page.getAttribute("#status", "data-session");
  assert.ok(sessionId, "ready rendered with a session id");
  // The sentence's last words are committed at the pause after them (utterance end), before the
  // loop starts again.
  await page.waitForFunction(() => /for your country/i.test(document.getElementById("committed")?.textContent ?? ""), null, { timeout: 40_000 });
  const live = (await page.textContent("#committed")) ?? "";
  await page.click("#stop");
  await page.waitForSelector("#report:not([hidden])", { timeout: 120_000 });
  t.diagnostic(`live: ${live}`);
  const firstPass = live.slice(0, live.toLowerCase().indexOf("for your country") + "for your country".length);
  assert.ok(errors(wordErrors(JFK, firstPass)) <= 1, `live transcript: "${live}"`);

  const segments = await app.store.getSegments(sessionId!);
  const stored = segments.map((s) => s.text).join(" ");
  t.diagnostic(`stored: ${stored}`);
  const storedFirst = stored.slice(0, stored.toLowerCase().indexOf("for your country") + "for your country".length);
  assert.ok(storedFirst.length > 0, `stored: "${stored}"`);
  assert.ok(errors(wordErrors(JFK, storedFirst)) <= 1, `stored final text: "${stored}"`);
  await ctx.close();
});
