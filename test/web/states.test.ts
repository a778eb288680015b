// Issue 15 in real headless Chromium (Debian's): the page's honest states and its Opus option.
// - A server without a speech model: the page says "not set up" (never "busy"), makes exactly one
//   connection attempt, and stays ready for a later Start.
// - Opus chosen on the page: MediaRecorder's WebM/Opus from the fake microphone (jfk.wav) is
//   decoded by the server, transcribed and reported, at about a tenth of PCM's bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { AUDIO_DIR } from "../helpers/models.js";
import { practicePageBrowser } from "../helpers/chromium.js";
import { hsToken } from "../helpers/tokens.js";
import { startClientTestServer, type ClientTestServer } from "../client/_server.js";

const WAV = join(AUDIO_DIR, "jfk.wav");

const open = practicePageBrowser(WAV);
const openPage = (gw: ClientTestServer): Promise<Page> => open(gw.url);

test("no speech model: 'not set up' message, one connection attempt, no retry", async () => {
  const gw = await startClientTestServer({
    deps: {
      devToken: () => hsToken({ sub: "page-learner" }),
      sttUnavailable: 'speech recognition is not set up on this server: Whisper model "tiny.en" not found. Download it with `parlance models pull tiny.en`',
    },
  });
  let upgrades = 0;
  gw.server.on("upgrade", () => upgrades++);
  const page = await openPage(gw);
  await page.click("#start");
  await page.waitForSelector("#message:not([hidden])", { timeout: 10_000 });
  const message = (await page.textContent("#message")) ?? "";
  assert.match(message, /not set up/);
  assert.match(message, /parlance models pull tiny\.en/);
  assert.doesNotMatch(message, /busy|Retrying/i);
  assert.equal(await page.getAttribute("#status", "data-state"), "error");
  assert.equal(await page.textContent("#status"), "Not set up");
  // The SDK's back-off would have retried within 0.5-1 s; wait well past a few of those.
  await page.waitForTimeout(4000);
  assert.equal(upgrades, 1, "exactly one connection attempt");
  assert.equal(await page.textContent("#message"), message, "the message stays; no 'Retrying' replaces it");
  assert.equal(await page.isEnabled("#start"), true);
  assert.equal(await page.isHidden("#reconnect"), true);
  await page.context().close();
});

test("Opus option: WebM/Opus from MediaRecorder is decoded, transcribed and reported at ~24 kbit/s", async () => {
  const gw = await startClientTestServer({ deps: { devToken: () => hsToken({ sub: "page-learner" }) } });
  const page = await openPage(gw);
  assert.equal(await page.inputValue("#encoding"), "pcm_s16le", "PCM stays the default");
  await page.selectOption("#encoding", "opus");
  await page.click("#start");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 15_000 });
  const startedAt = Date.now();
  await page.waitForFunction(() => Number(document.body.dataset.finals ?? 0) > 0, null, { timeout: 20_000 });
  await page.waitForTimeout(Math.max(0, 11_000 - (Date.now() - startedAt)));
  await page.click("#stop");
  const wall = (Date.now() - startedAt) / 1000;
  await page.waitForSelector("#report:not([hidden]) #report-transcript", { timeout: 20_000 });
  assert.match((await page.textContent("#committed")) ?? "", /fellow Americans/);
  const sentBytes = Number(await page.evaluate(() => document.body.dataset.sentBytes));
  const kbps = (sentBytes * 8) / wall / 1000;
  // MediaRecorder at audioBitsPerSecond 24000, plus WebM framing: far below PCM's 256 kbit/s.
  assert.ok(kbps > 5 && kbps < 64, `${kbps.toFixed(1)} kbit/s over ${wall.toFixed(1)} s`);
  const received = gw.receivedSeconds();
  assert.equal(received.length, 1);
  // The server decoded about as much audio as the page streamed (recorder start/stop latency aside).
  assert.ok(Math.abs(received[0]! - wall) / wall < 0.15, `server decoded ${received[0]!.toFixed(2)} s over ${wall.toFixed(2)} s`);
  console.log(`page opus: ${kbps.toFixed(1)} kbit/s, decoded ${received[0]!.toFixed(2)} s in ${wall.toFixed(2)} s`);
  await page.context().close();
});

test("no recognisable speech: the report's advice sentence appears once", async () => {
  const gw = await startClientTestServer({ deps: { devToken: () => hsToken({ sub: "page-learner" }) } });
  const page = await openPage(gw);
  await page.click("#start");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 15_000 });
  // Stop before the scripted speech starts (0.4 s): the transcript is empty, the report unusable.
  await page.click("#stop");
  await page.waitForSelector("#report:not([hidden]) .quality", { timeout: 20_000 });
  const text = (await page.textContent("#report .quality")) ?? "";
  assert.match(text, /We could not give language feedback: no speech was recognised/);
  const advice = "Check that the right microphone is selected and not muted, then speak closer to it.";
  assert.equal(text.split(advice).length - 1, 1, `advice once: "${text}"`);
  await page.context().close();
});
