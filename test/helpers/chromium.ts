// Headless Chromium (Debian's, or PARLANCE_CHROMIUM) whose fake microphone plays a WAV file: the
// one launch configuration of every browser test. Each launch gets a fresh, empty profile
// (--user-data-dir is Playwright's own temporary one); nothing reaches the network but loopback.
import { before, after } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
// @ts-expect-error - plain ESM build script without type declarations
import { buildWeb } from "../../scripts/build-web.mjs";

export const CHROMIUM = process.env.PARLANCE_CHROMIUM ?? "/usr/bin/chromium";

export function launchWithFakeMic(wav: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** The practice page of `url` in a fresh context (a phone-sized viewport), once its script is ready. */
export async function openPracticePage(browser: Browser, url: string): Promise<Page> {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 420, height: 900 } });
  const page = await ctx.newPage();
  page.on("pageerror", (err) => console.error("page error:", err.message));
  await page.goto(`${url}/`);
  await page.waitForSelector("body[data-page-ready=true]");
  return page;
}

/**
 * For a test file about the practice page: before its tests the page bundle is built and one
 * Chromium with a fake microphone playing `wav` launched; after them it is closed. Returns the
 * page opener for that browser.
 */
export function practicePageBrowser(wav: string): (url: string) => Promise<Page> {
  let browser: Browser | undefined;
  before(async () => {
    await buildWeb({ minify: false });
    browser = await launchWithFakeMic(wav);
  });
  after(async () => {
    await browser?.close();
  });
  return (url) => openPracticePage(browser!, url);
}
