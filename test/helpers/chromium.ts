// Headless Chromium (Debian's, or PARLANCE_CHROMIUM) whose fake microphone plays a WAV file: the
// one launch configuration of every browser test. Each launch gets a fresh, empty profile
// (--user-data-dir is Playwright's own temporary one); nothing reaches the network but loopback.
import { chromium, type Browser } from "playwright-core";

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
