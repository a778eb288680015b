// The whole product with real Whisper weights, as a learner uses it: Debian's Chromium opens the
// practice page of a dev-mode app (real TLS, real store), its fake microphone plays jfk.wav, and
// the live transcript shows the sentence; the final text stored for the session matches it within
// one word error.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { AUDIO_DIR, realWhisper } from "../helpers/models.js";
import { launchWithFakeMic } from "../helpers/chromium.js";
import { startPipeline } from "../helpers/pipeline.js";
import { hsToken } from "../helpers/tokens.js";
import { errors, wordErrors } from "../../bench/eval/wer.js";
// @ts-expect-error - plain ESM build script without type declarations
import { buildWeb } from "../../scripts/build-web.mjs";

const JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
const real = await realWhisper();

test(`practice page + real tiny.en (${real.verification}): the JFK sentence live and stored`, { timeout: 240_000 }, async () => {
  await buildWeb({ minify: false });
  // Production STT settings: the real model with the default guards and prompt.
  const { app } = await startPipeline({
    PARLANCE_STT_MODEL: real.path,
    PARLANCE_STT_LOGPROB_THRESHOLD: "-1",
  });
  const browser = await launchWithFakeMic(join(AUDIO_DIR, "jfk.wav"));
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
  // The fake microphone loops the 11 s file; the sentence's last words are committed at the pause
  // after them (utterance end), which comes before the loop starts again.
  await page.waitForFunction(() => /for your country/i.test(document.getElementById("committed")?.textContent ?? ""), null, { timeout: 40_000 });
  const live = (await page.textContent("#committed")) ?? "";
  await page.click("#stop");
  await page.waitForSelector("#report:not([hidden])", { timeout: 120_000 });
  const firstPass = live.slice(0, live.toLowerCase().indexOf("for your country") + "for your country".length);
  assert.ok(errors(wordErrors(JFK, firstPass)) <= 1, `live transcript: "${live}"`);

  const segments = await app.store.getSegments(sessionId!);
  const stored = segments.map((s) => s.text).join(" ");
  const storedFirst = stored.slice(0, stored.toLowerCase().indexOf("for your country") + "for your country".length);
  assert.ok(storedFirst.length > 0, `stored: "${stored}"`);
  assert.ok(errors(wordErrors(JFK, storedFirst)) <= 1, `stored final text: "${stored}"`);
  await ctx.close();
});
