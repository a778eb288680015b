// Full-pipeline helpers: an in-process app (real TLS gateway, real Whisper on the random-weight
// tiny.en shape, real GGUF LLM, SQLite) and a client that streams a WAV file at a given pace.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after } from "node:test";
import type WebSocket from "ws";
import { loadConfig, type Config } from "../../src/config/index.js";
import { startApp, type App } from "../../src/app.js";
import { readWav } from "../../src/audio/wav.js";
import { silentLogger } from "../../src/util/log.js";
import { randomModel, SHARED_MODELS_DIR, AUDIO_DIR } from "./models.js";
import { tempDir, TEST_SECRET } from "./gateway.js";

export { AUDIO_DIR, SHARED_MODELS_DIR };
export const TINY_LLM = join(SHARED_MODELS_DIR, "tiny-random-llama.gguf");

/**
 * Random weights decode to meaningless, low-probability text, which the default guards rightly
 * drop; pipeline tests that need words to flow relax the log-probability guard. Prompted with the
 * verbatim preamble, random weights also emit far fewer words (4 partials in 11 s instead of ~8),
 * so these tests run without it; the prompt has its own policy tests.
 */
export function pipelineEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PARLANCE_PORT: "0",
    PARLANCE_JWT_SECRET: TEST_SECRET,
    PARLANCE_LOG_LEVEL: process.env.PARLANCE_TEST_LOG_LEVEL ?? "silent",
    PARLANCE_DEV: "1",
    PARLANCE_STT_MODEL: randomModel("tiny.en"),
    PARLANCE_STT_LOGPROB_THRESHOLD: "-100",
    PARLANCE_STT_VERBATIM_PROMPT: "0",
    PARLANCE_STT_THREADS: "2",
    PARLANCE_LLM_PROVIDER: "embedded",
    PARLANCE_LLM_MODEL: TINY_LLM,
    PARLANCE_LLM_CONTEXT_SIZE: "4096",
    PARLANCE_LLM_MAX_OUTPUT_TOKENS: "1500",
    PARLANCE_MODELS_DIR: SHARED_MODELS_DIR,
    ...extra,
  };
}

export async function startPipeline(extra: Record<string, string> = {}, dataDir = tempDir()): Promise<{ app: App; config: Config; ca: string }> {
  const config = loadConfig({ env: { PARLANCE_DATA_DIR: dataDir, ...pipelineEnv(extra) } });
  const app = await startApp(config, silentLogger);
  after(() => app.close(500));
  return { app, config, ca: readFileSync(resolve(dataDir, "tls/dev-cert.pem"), "utf8") };
}

/** PCM s16le chunks of `chunkMs` from a 16 kHz mono WAV. */
export function wavChunks(file: string, chunkMs = 250): Buffer[] {
  const wav = readWav(file.includes("/") ? file : join(AUDIO_DIR, file));
  if (wav.sampleRate !== 16000 || wav.channels !== 1 || wav.encoding !== "pcm_s16le") throw new Error(`${file}: expected 16 kHz mono s16le`);
  const bytes = (16000 * 2 * chunkMs) / 1000;
  const out: Buffer[] = [];
  for (let i = 0; i < wav.pcm.length; i += bytes) out.push(wav.pcm.subarray(i, Math.min(i + bytes, wav.pcm.length)));
  return out;
}

/** Sends chunks every chunkMs/speed; resolves when the last one is sent. */
export async function sendPaced(ws: WebSocket, chunks: Buffer[], chunkMs = 250, speed = 1): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < chunks.length; i++) {
    const due = start + (i * chunkMs) / speed;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (ws.readyState !== ws.OPEN) return;
    ws.send(chunks[i]!);
  }
}
