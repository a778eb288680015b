// From `end` to the report, through the real server (TLS gateway, whisper.cpp with real tiny.en
// weights, the embedded LLM with real weights, SQLite, the in-process queue) and the SDK client:
// a 30 s utterance streamed at real-time pace, no other streams. Records, per run, when `ended`,
// the provisional report (transcript, fluency, vocabulary) and the complete report arrive after
// `end`, and the time to first token of each LLM call. Issue 13, acceptance 3.
// Usage: node bin/run-ts.js bench/analysis/report-latency.ts [--runs 3] [--model <gguf>] [--whisper <bin>]
//          [--threads 0] [--prompt feedback-v4] [--json out.json]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { Command } from "commander";
import WebSocket from "ws";
import { loadConfig } from "../../src/config/index.js";
import { startApp } from "../../src/app.js";
import { readWav } from "../../src/audio/wav.js";
import { connect, type Report } from "../../src/client/index.js";
import { DEFAULT_EMBEDDED_MODEL } from "../../src/analysis/models/factory.js";
import { createLogger } from "../../src/util/log.js";

const REAL = resolve(process.env.PARLANCE_REAL_MODELS_DIR ?? ".cache/real-models");
const opts = new Command()
  .option("--runs <n>", "sessions, one after another", "3")
  .option("--model <gguf>", "LLM file", join(REAL, DEFAULT_EMBEDDED_MODEL))
  .option("--whisper <bin>", "whisper.cpp model", join(REAL, "ggml-tiny.en.bin"))
  .option("--audio <dir>", "folder with jfk.wav and the espeak learner sentences", "../shared/audio")
  .option("--threads <n>", "PARLANCE_LLM_THREADS (0 = all cores)", "0")
  .option("--prompt <version>", "PARLANCE_ANALYSIS_PROMPT (unset = the default)")
  .option("--json <file>", "results as JSON")
  .parse()
  .opts<{ runs: string; model: string; whisper: string; audio: string; threads: string; prompt?: string; json?: string }>();

// ~30 s of speech: a speech, two learner sentences with errors, the speech again.
const parts = ["jfk.wav", "espeak-grammar-errors.wav", "espeak-grammar-errors-2.wav", "jfk.wav"].map((f) => readWav(join(opts.audio, f)).pcm);
const pcm = Buffer.concat(parts);
const seconds = pcm.length / 32000;
const CHUNK = 8000; // 250 ms

const dataDir = mkdtempSync(join(tmpdir(), "parlance-latency-"));
const logger = createLogger(process.env.PARLANCE_LOG_LEVEL ?? "warn");
const config = loadConfig({
  env: {
    PARLANCE_PORT: "0",
    PARLANCE_DATA_DIR: dataDir,
    PARLANCE_DEV: "1",
    PARLANCE_LOG_LEVEL: "warn",
    PARLANCE_STT_MODEL: opts.whisper,
    PARLANCE_LLM_PROVIDER: "embedded",
    PARLANCE_LLM_MODEL: opts.model,
    PARLANCE_LLM_THREADS: opts.threads,
    ...(opts.prompt ? { PARLANCE_ANALYSIS_PROMPT: opts.prompt } : {}),
  },
});
const app = await startApp(config, logger);
const ca = readFileSync(resolve(dataDir, "tls/dev-cert.pem"), "utf8");
const results: { ended_ms: number; provisional_ms: number | null; report_ms: number; words: number; uncertain: number; errors: string[]; llm_status: string; transcript: string }[] = [];
try {
  // The server warms the LLM up at start; the first session (not counted) waits for that, like a
  // learner on a server that has just started.
  for (let r = -1; r < Number(opts.runs); r++) {
    const s = await connect(app.gateway.url.replace(/^https/, "wss") + "/v1/stream", { token: await app.devToken!(), WebSocket: WebSocket as never, ca, config: { task: "Talk about a speech you remember." } });
    const t0 = Date.now();
    for (let i = 0; i < pcm.length; i += CHUNK) {
      const due = t0 + (i / CHUNK) * 250;
      if (due > Date.now()) await new Promise((res) => setTimeout(res, due - Date.now()));
      const b = pcm.subarray(i, Math.min(i + CHUNK, pcm.length));
      s.sendAudio(new Int16Array(b.buffer, b.byteOffset, b.length / 2));
    }
    let provisional: number | null = null;
    let ended = 0;
    const tEnd = Date.now();
    const endedWatch = (async () => {
      for await (const m of s) if (m.type === "ended") ended = Date.now();
    })();
    const report: Report = await s.end({ onProvisional: () => (provisional ??= Date.now()) });
    const tReport = Date.now();
    s.close();
    await endedWatch.catch(() => undefined);
    if (r >= 0) results.push({
      ended_ms: ended - tEnd,
      provisional_ms: provisional === null ? null : provisional - tEnd,
      report_ms: tReport - tEnd,
      words: report.transcript.words.length,
      uncertain: report.transcript.words.filter((w) => w.uncertain).length,
      errors: report.errors.map((e) => `${e.original} -> ${e.correction}`),
      llm_status: report.llm_status,
      transcript: report.transcript.text,
    });
    console.log(`${r < 0 ? "warm-up run (not counted)" : `run ${r + 1}`}: ${seconds.toFixed(1)} s audio, ${report.transcript.words.length} words; after end: ended ${ended - tEnd} ms, provisional ${provisional === null ? "-" : provisional - tEnd} ms, report ${tReport - tEnd} ms (${report.llm_status}, ${report.errors.length} errors: ${JSON.stringify(report.errors.map((e) => `${e.original} -> ${e.correction}`))}); load ${loadavg()[0]!.toFixed(2)}`);
  }
} finally {
  await app.close(2000);
  rmSync(dataDir, { recursive: true, force: true });
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`p50 after end: ended ${p50(results.map((r) => r.ended_ms))} ms, provisional ${p50(results.map((r) => r.provisional_ms ?? NaN))} ms, report ${p50(results.map((r) => r.report_ms))} ms; loadavg ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ model: opts.model, threads: opts.threads, audio_s: seconds, results }, null, 1));
