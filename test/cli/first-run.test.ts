// Issue 15, acceptance 1: the first start of a fresh checkout.
// - `npm start -- --pull` against a loopback mirror downloads the Whisper and LLM files the server
//   loads, with progress, verifies them, starts, and the printed practice URL serves a page that
//   transcribes jfk.wav from Chromium's fake microphone with the real tiny.en weights.
// - Without a TTY and without --pull it prints the exact command, starts anyway, and refuses
//   sessions with stt_unavailable (4503) so the page can say "not set up".
// - On a TTY it asks first (the question is answered here through the injected `ask`).
//
// Verification against the mirror, honestly: the only tiny.en weights on these machines are a
// conversion that is not byte-identical to the official file, so they cannot pass the published
// checksum. The mirror therefore lists them in its SHA256SUMS and the server is started with
// PARLANCE_MODELS_TRUST_MIRROR_CHECKSUMS=1; the test asserts the warning that this prints. The LLM
// file is the real SmolLM2 GGUF when present, which passes its published sha256 (asserted); the
// published-checksum path for Whisper files is covered in models-pull.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { authed, tempDir } from "../helpers/gateway.js";
import { AUDIO_DIR, SHARED_MODELS_DIR } from "../helpers/models.js";
import { launchWithFakeMic } from "../helpers/chromium.js";
import { npmStart, waitForDevBanner, type NpmStart } from "../helpers/process.js";
import { startMirror } from "../helpers/mirror.js";
import { hasRealModel, realModel } from "../helpers/real-models.js";
import { https } from "../faults/_util.js";
import { loadConfig } from "../../src/config/index.js";
import { ensureFirstRunModels } from "../../src/models/first-run.js";
import { DEFAULT_EMBEDDED_MODEL } from "../../src/analysis/models/factory.js";
import { DEFAULT_LLM_MODEL } from "../../src/models/catalogue.js";
import { Writable } from "node:stream";

const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** A user's shell: none of the test suite's model or engine settings. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PARLANCE_PORT: "0", ...extra };
  for (const k of Object.keys(env)) if (k.startsWith("PARLANCE_") && !(k in extra) && k !== "PARLANCE_PORT") delete env[k];
  delete env.NODE_ENV;
  return env;
}

async function banner(p: NpmStart, timeoutMs: number) {
  const out = await waitForDevBanner(p, timeoutMs);
  return { url: /practice:\s+(https:\/\/\S+?)\/?\s/.exec(out)![1]!, wsUrl: /stream:\s+(wss:\/\/\S+)/.exec(out)![1]!, token: /dev token:\s+(\S+)/.exec(out)![1]! };
}

async function stop(p: NpmStart) {
  const code = await p.stop();
  assert.ok(code === 0 || code === null, `exit ${code}\n${p.output()}`);
}

test("npm start -- --pull: downloads and verifies both models from the mirror, and the page transcribes jfk.wav", { timeout: 420_000 }, async () => {
  const tiny = realModel("ggml-tiny.en.bin");
  const smol = hasRealModel("SmolLM2-135M-Instruct.Q4_1.gguf") ? realModel("SmolLM2-135M-Instruct.Q4_1.gguf") : null;
  // Without the real SmolLM2 file, the default LLM file name is served with the shared random-weight
  // GGUF, listed in the mirror manifest: accepted only as an unverified mirror file (asserted).
  const llmFile = smol ? "SmolLM2-135M-Instruct.Q4_1.gguf" : DEFAULT_EMBEDDED_MODEL;
  const llmSource = smol ?? join(SHARED_MODELS_DIR, "tiny-random-llama.gguf");
  const sums = `${sha256(tiny)}  ggml-tiny.en.bin\n${smol ? "" : `${sha256(llmSource)}  ${llmFile}\n`}`;
  const mirror = await startMirror({ files: { "ggml-tiny.en.bin": tiny, [llmFile]: llmSource }, sha256sums: sums });
  const dataDir = tempDir();
  const p = npmStart(
    ["--pull"],
    userEnv({
      PARLANCE_DATA_DIR: dataDir,
      PARLANCE_MODELS_BASE_URL: mirror.url,
      PARLANCE_MODELS_TRUST_MIRROR_CHECKSUMS: "1",
      PARLANCE_STT_THREADS: "2",
      ...(smol ? { PARLANCE_LLM_MODEL: llmFile } : {}),
    }),
  );
  const { url } = await banner(p, 240_000);
  const out = p.output();
  assert.match(out, /parlance is not set up yet: these models are missing/);
  assert.match(out, /tiny\.en: 0% [\s\S]*tiny\.en: 50% [\s\S]*tiny\.en: 100% \(74\/74 MB\)/, "progress while downloading");
  assert.match(out, /WARNING: ggml-tiny\.en\.bin \(sha256 [0-9a-f]{64}\) does not match the published checksum/);
  assert.match(out, /tiny\.en: .*ggml-tiny\.en\.bin \(checksum from the trusted mirror manifest, NOT the official one\)/);
  if (smol) assert.match(out, /smollm2-135m-instruct-q4_1: .*SmolLM2-135M-Instruct\.Q4_1\.gguf \(sha256 b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 matches the published checksum\)/);
  else assert.match(out, new RegExp(`WARNING: ${DEFAULT_EMBEDDED_MODEL.replace(/\./g, "\\.")}`));
  assert.ok(existsSync(join(dataDir, "models", "ggml-tiny.en.bin")) && existsSync(join(dataDir, "models", llmFile)));
  assert.doesNotMatch(out, /not set up: the practice page/, "nothing left missing");
  assert.deepEqual(mirror.requests.filter((r) => r.path !== "SHA256SUMS").map((r) => r.status), [200, 200]);

  const browser = await launchWithFakeMic(join(AUDIO_DIR, "jfk.wav"));
  try {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`${url}/`);
    await page.waitForSelector("body[data-page-ready=true]");
    assert.match(await page.inputValue("#token"), /^ey/, "dev token filled in");
    await page.click("#start");
    await page.waitForSelector("#status[data-state=streaming]", { timeout: 30_000 });
    const startedAt = Date.now();
    await page.waitForFunction(() => Number(document.body.dataset.finals ?? 0) > 0, null, { timeout: 60_000 });
    await page.waitForTimeout(Math.max(0, 12_000 - (Date.now() - startedAt)));
    await page.click("#stop");
    await page.waitForSelector("#report:not([hidden]) #report-transcript", { timeout: 180_000 });
    const committed = ((await page.textContent("#committed")) ?? "").toLowerCase();
    // Real words from the real model; the streaming path's exact text varies with the load on
    // this shared 2-core machine (docs/BENCHMARKS.md), so stems of the sentence's words are checked.
    const heard = ["and so", "fellow", "americ", "country", "ask"].filter((w) => committed.includes(w));
    console.log(`first-run page transcript: "${committed}" (load ${readFileSync("/proc/loadavg", "utf8").trim()})`);
    assert.ok(heard.length >= 3, `transcript: "${committed}"`);
    assert.ok(((await page.textContent("#report-transcript")) ?? "").length > 10);
  } finally {
    await browser.close();
  }
  await stop(p);
});

test("no TTY, no --pull: prints the exact command, serves the page, refuses sessions as not set up (4503)", { timeout: 120_000 }, async () => {
  const dataDir = tempDir();
  const p = npmStart([], userEnv({ PARLANCE_DATA_DIR: dataDir }));
  const { url, wsUrl, token } = await banner(p, 90_000);
  const out = p.output();
  assert.match(out, /parlance is not set up yet/);
  assert.match(out, /speech recognition \(Whisper\): tiny\.en, ggml-tiny\.en\.bin, ~75 MB, from https:\/\/huggingface\.co\/ggerganov\/whisper\.cpp\/resolve\/main\/ggml-tiny\.en\.bin/);
  assert.match(out, new RegExp(`To download: npx parlance models pull tiny\\.en ${DEFAULT_LLM_MODEL.replace(/\./g, "\\.")} +\\(or: npm start -- --pull\\)`));
  assert.match(out, /Speech recognition is not set up: the practice page will say so/);
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  assert.equal((await https(url, ca, "GET", "/")).status, 200);
  const c = await authed({ wsUrl, ca }, token);
  const closed = await c.closed;
  assert.equal(closed.code, 4503);
  assert.equal(c.messages[0]!.code, "stt_unavailable");
  assert.match(String(c.messages[0]!.message), /not set up on this server.*models pull tiny\.en/);
  await stop(p);
});

test("on a TTY the first start asks; no means the command is printed and nothing is downloaded, yes downloads", { timeout: 120_000 }, async () => {
  const tiny = realModel("ggml-tiny.en.bin");
  const mirror = await startMirror({ files: { "ggml-tiny.en.bin": tiny }, sha256sums: `${sha256(tiny)}  ggml-tiny.en.bin\n` });
  let text = "";
  const out = Object.assign(new Writable({ write: (c, _e, cb) => ((text += c), cb()) }), { isTTY: false });
  const config = loadConfig({
    env: { PARLANCE_DEV: "1", PARLANCE_DATA_DIR: tempDir(), PARLANCE_LLM_PROVIDER: "fake", PARLANCE_MODELS_BASE_URL: mirror.url, PARLANCE_MODELS_TRUST_MIRROR_CHECKSUMS: "1" },
  });
  const questions: string[] = [];
  const no = await ensureFirstRunModels(config, { pull: false, interactive: true, out, ask: async (q) => (questions.push(q), false) });
  assert.deepEqual(questions, ["Download tiny.en now (~75 MB)? [Y/n] "]);
  assert.equal(no.pulled.length, 0);
  assert.equal(no.missing.length, 1);
  assert.match(text, /To download: npx parlance models pull tiny\.en/);
  assert.equal(mirror.requests.length, 0);
  const yes = await ensureFirstRunModels(config, { pull: false, interactive: true, out, ask: async () => true });
  assert.equal(yes.pulled[0]?.verified, "mirror");
  assert.deepEqual(yes.missing, []);
  // Not interactive and not asked to pull: never downloads by itself.
  const prod = loadConfig({ env: { PARLANCE_DATA_DIR: tempDir(), PARLANCE_LLM_PROVIDER: "fake", PARLANCE_JWT_SECRET: "x".repeat(40) } });
  const none = await ensureFirstRunModels(prod, { pull: true, interactive: true, out, ask: async () => assert.fail("production never asks") });
  assert.equal(none.pulled.length, 0, "production (not dev) never downloads at start");
});
