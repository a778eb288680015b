// The practice page in real headless Chromium (Debian's), over https with the dev certificate:
// fake microphone playing jfk.wav -> AudioWorklet -> wss -> gateway -> live view -> report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { AUDIO_DIR } from "../helpers/models.js";
import { launchWithFakeMic, openPracticePage, practicePageBrowser } from "../helpers/chromium.js";
import { hsToken } from "../helpers/tokens.js";
import { startClientTestServer, type ClientTestServer } from "../client/_server.js";

const WAV = join(AUDIO_DIR, "jfk.wav");
const OUT = resolve("test-output");

const open = practicePageBrowser(WAV);

// Per test: the helpers register their cleanup with the test that starts them.
const startServer = () => startClientTestServer({ deps: { devToken: () => hsToken({ sub: "page-learner" }) } });

const openPage = (gw: ClientTestServer, on?: Browser): Promise<Page> => (on ? openPracticePage(on, gw.url) : open(gw.url));

test("streams the fake microphone over wss and renders partials, finals and the report", async () => {
  const gw = await startServer();
  const page = await openPage(gw);
  // Dev mode: the token field was filled from GET /v1/dev/token.
  assert.match(await page.inputValue("#token"), /^ey/);
  await page.click("#start");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 15_000 });
  const startedAt = Date.now();
  await sampleMeter(page);
  assert.ok(await page.getAttribute("#status", "data-session"), "ready rendered with a session id");
  await page.waitForFunction(() => Number(document.body.dataset.partials ?? 0) > 0, null, { timeout: 15_000 });
  await page.waitForFunction(() => Number(document.body.dataset.finals ?? 0) > 0, null, { timeout: 15_000 });
  // Let one pass of the 11 s file play.
  await page.waitForTimeout(Math.max(0, 11_000 - (Date.now() - startedAt)));
  const speechLevels = await meterSamples(page);
  assert.ok(await page.$eval("#lag", (e) => /lag \d/.test(e.textContent ?? "")));
  await page.click("#stop");
  const stoppedAt = Date.now();
  await page.waitForSelector("#report:not([hidden]) #report-transcript", { timeout: 20_000 });

  const committed = await page.textContent("#committed");
  assert.match(committed ?? "", /fellow Americans/);
  // Committed text and the revisable partial are styled differently.
  const styles = await page.evaluate(() => {
    const probe = document.createElement("span");
    probe.className = "partial";
    probe.textContent = "x";
    document.getElementById("transcript")!.append(probe);
    const a = getComputedStyle(document.getElementById("committed")!);
    const b = getComputedStyle(probe);
    probe.remove();
    return { a: [a.color, a.fontStyle], b: [b.color, b.fontStyle] };
  });
  assert.notDeepEqual(styles.a, styles.b);
  // The report: inline error with correction and why, fluency numbers, level, lesson links.
  const mark = page.locator("#report-transcript mark.err").first();
  assert.equal(await mark.textContent().then((t) => t?.startsWith("ask not")), true);
  await mark.focus(); // keyboard users get the explanation on focus
  assert.equal(await page.locator("#report-transcript mark.err .tip").first().isVisible(), true);
  assert.match((await page.locator("#report-transcript mark.err .tip").first().textContent()) ?? "", /do not ask/);
  assert.match((await page.textContent("#fluency")) ?? "", /Words/);
  assert.match((await page.textContent("#level-estimate")) ?? "", /B2/);
  assert.equal(await page.getAttribute("#recommendations a", "href"), "https://example.org/lessons/neg-imp");
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, "web-report.png"), fullPage: true });
  assert.ok(existsSync(join(OUT, "web-report.png")));

  // Server side: the decoded audio matches what the page sent exactly, and the time it streamed within 5 %.
  const received = gw.receivedSeconds();
  assert.equal(received.length, 1);
  const sent = Number(await page.evaluate(() => document.body.dataset.sentSamples)) / 16000;
  assert.ok(Math.abs(received[0]! - sent) < 0.3, `server ${received[0]} s vs page ${sent} s`);
  const wall = (stoppedAt - startedAt) / 1000;
  assert.ok(Math.abs(received[0]! - wall) / wall < 0.05, `server received ${received[0]!.toFixed(2)} s over ${wall.toFixed(2)} s of streaming`);
  // The meter follows the microphone: jfk.wav's speech moves it well up (silence: next test).
  assert.ok(speechLevels.length >= 50, `${speechLevels.length} samples`);
  const speechPeak = Math.max(...speechLevels);
  assert.ok(speechPeak > 0.1, `meter peak during speech ${speechPeak}`);
  assert.ok(speechLevels.filter((v) => v > speechPeak / 2).length > 5, "the meter moves with the speech, not one spike");
  await page.context().close();
  SPEECH_PEAK = speechPeak;
});

let SPEECH_PEAK = NaN;

/** Records the level meter's value every 50 ms from now on, in the page. */
async function sampleMeter(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { levels: number[] };
    w.levels = [];
    setInterval(() => w.levels.push((document.getElementById("level") as HTMLMeterElement).value), 50);
  });
}

const meterSamples = (page: Page) => page.evaluate(() => (window as unknown as { levels: number[] }).levels.slice());

test("the level meter stays down for a silent microphone", async (t) => {
  assert.ok(Number.isFinite(SPEECH_PEAK), "runs after the speech test, whose peak it compares with");
  const silent = await launchWithFakeMic(join(AUDIO_DIR, "silence-60s.wav"));
  t.after(() => silent.close());
  const gw = await startServer();
  const page = await openPage(gw, silent);
  await page.click("#start");
  await page.waitForSelector("#status[data-state=streaming]", { timeout: 15_000 });
  await sampleMeter(page);
  // 3 s of samples: a dozen 250 ms chunks, each of which posts its level to the meter.
  await page.waitForFunction(() => (window as unknown as { levels: number[] }).levels.length >= 60, null, { timeout: 15_000 });
  const levels = await meterSamples(page);
  const peak = Math.max(...levels);
  t.diagnostic(`meter peak: silence ${peak.toFixed(3)}, speech ${SPEECH_PEAK.toFixed(3)}`);
  assert.ok(peak < SPEECH_PEAK / 10, `silent peak ${peak} vs speech peak ${SPEECH_PEAK}`);
  await page.click("#stop");
  await page.context().close();
});

test("a bad token shows the error message instead of hanging", async () => {
  const gw = await startServer();
  const page = await openPage(gw);
  await page.fill("#token", "not-a-valid-token");
  await page.click("#start");
  await page.waitForSelector("#message:not([hidden])", { timeout: 10_000 });
  assert.match((await page.textContent("#message")) ?? "", /refused this token/);
  assert.equal(await page.getAttribute("#status", "data-state"), "error");
  assert.equal(await page.isEnabled("#start"), true);
  await page.context().close();
});
