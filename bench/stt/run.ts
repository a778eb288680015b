// STT benchmark with the real engine on random-weight tiny.en / base.en shapes (real speed,
// meaningless text). Prints: decode time per update, partial cadence and lag for N simultaneous
// real-time streams, CPU and RSS; and the bounded-cost check over a long continuous stream.
// Usage: npm run bench:stt -- [--quick] [--models tiny.en,base.en] [--streams 1,2,4,8] [--seconds 20]
import { availableParallelism } from "node:os";
import { readWav } from "../../src/audio/wav.js";
import { EmbeddedWhisperTranscriber } from "../../src/stt/embedded.js";
import { DecodeScheduler } from "../../src/stt/scheduler.js";
import { SttStream, DEFAULT_POLICY, type StreamPolicy } from "../../src/stt/stream.js";
import type { SpeechEvent, TranscribeRequest, Transcriber } from "../../src/stt/types.js";
import { AUDIO_DIR, randomModel } from "../../test/helpers/models.js";

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const quick = argv.includes("--quick");
const shapes = arg("models", "tiny.en,base.en").split(",") as ("tiny.en" | "base.en")[];
const streamCounts = arg("streams", "1,2,4,8").split(",").map(Number);
const seconds = Number(arg("seconds", quick ? "12" : "30"));
const marks = quick ? [10, 60, 120] : [10, 60, 300];
const threads = Number(arg("threads", String(availableParallelism())));
// Random weights: the log-probability guard would drop every word and hide the decode cost of
// committing; it is off for the benchmark (production keeps it on).
const policy: StreamPolicy = { ...DEFAULT_POLICY, guards: { logprobThreshold: -Infinity, noSpeechThreshold: 1, suppressHallucinations: true } };

const speech = readWav(`${AUDIO_DIR}/jfk.wav`).samples;
const CHUNK = 4000; // 250 ms
const chunkAt = (k: number) => {
  const start = (k * CHUNK) % (speech.length - CHUNK);
  return speech.slice(start, start + CHUNK);
};

class Timed implements Transcriber {
  decodes: { ms: number; windowSec: number; at: number }[] = [];
  constructor(readonly inner: Transcriber) {}
  get name() { return this.inner.name; }
  get capabilities() { return this.inner.capabilities; }
  async transcribe(req: TranscribeRequest) {
    const r = await this.inner.transcribe(req);
    this.decodes.push({ ms: r.decodeMs, windowSec: req.audio.length / 16000, at: req.offsetSec ?? 0 });
    return r;
  }
  close() { return this.inner.close(); }
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");

async function realtime(t: Timed, n: number) {
  t.decodes = [];
  const scheduler = new DecodeScheduler(t, threads);
  const streams = Array.from({ length: n }, (_, i) => new SttStream({ sessionId: `s${i}`, language: "en", policy, scheduler }));
  const partialTimes: number[][] = streams.map(() => []);
  const lags: number[] = [];
  const drains = streams.map(async (s, i) => {
    for await (const e of s as AsyncIterable<SpeechEvent>) {
      if (e.type === "partial" || e.type === "final") {
        if (e.type === "partial") partialTimes[i]!.push(performance.now());
        lags.push(e.lagMs);
      }
    }
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rssMax = 0;
  const total = Math.round((seconds * 1000) / 250);
  for (let k = 0; k < total; k++) {
    // Stagger streams across the 250 ms tick like independent clients.
    for (const s of streams) s.pushAudio(chunkAt(k));
    rssMax = Math.max(rssMax, process.memoryUsage.rss());
    const next = t0 + (k + 1) * 250;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    for (const s of streams) lags.push(s.lagMs);
  }
  for (const s of streams) s.end();
  await Promise.all(drains);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const gaps = partialTimes.flatMap((ts) => ts.slice(1).map((x, i) => x - ts[i]!));
  return {
    n,
    decodeMs: mean(t.decodes.map((d) => d.ms)),
    decodeP95: pct(t.decodes.map((d) => d.ms), 95),
    window: mean(t.decodes.map((d) => d.windowSec)),
    cadence: pct(gaps, 50),
    cadenceP95: pct(gaps, 95),
    lagP50: pct(lags, 50),
    lagP95: pct(lags, 95),
    lagMax: Math.max(...lags),
    cpu: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    rssMB: rssMax / 1048576,
  };
}

async function boundedCost(t: Timed) {
  // One continuous stream, fed as fast as decodes complete (decode-complete pacing): the
  // decode cost per update is what matters, not wall time.
  t.decodes = [];
  const scheduler = new DecodeScheduler(t, threads);
  const s = new SttStream({ sessionId: "long", language: "en", policy, scheduler });
  const drain = (async () => { for await (const _ of s as AsyncIterable<SpeechEvent>) void _; })();
  const last = marks[marks.length - 1]!;
  const rss: { at: number; mb: number }[] = [];
  for (let k = 0; k < last * 4; k++) {
    // jfk.wav has pauses that end utterances; continuous speech is the worst case, so the
    // pauses are skipped by reading only its loud part in a loop.
    s.pushAudio(chunkAt(k % 36));
    while (s.busy) await new Promise((r) => setTimeout(r, 1));
    if ((k + 1) % 40 === 0) rss.push({ at: (k + 1) / 4, mb: process.memoryUsage.rss() / 1048576 });
  }
  s.end();
  await drain;
  const around = (m: number) => t.decodes.filter((d) => d.at + d.windowSec > m - 15 && d.at + d.windowSec <= m);
  return marks.map((m) => {
    const ds = around(m);
    const r = rss.filter((x) => x.at <= m).pop();
    return { mark: m, decodes: ds.length, decodeMs: mean(ds.map((d) => d.ms)), window: mean(ds.map((d) => d.windowSec)), rssMB: r?.mb ?? NaN };
  });
}

console.log(`# parlance bench:stt  (${quick ? "quick" : "full"}; ${availableParallelism()} cores; ${threads} inference threads; ${seconds} s real-time streams; update ${policy.updateMs} ms)`);
for (const shape of shapes) {
  const model = randomModel(shape);
  const t = new Timed(await EmbeddedWhisperTranscriber.create({ modelPath: model, threads, audioCtx: "trim", label: `${shape} (random weights)` }));
  console.log(`\n## ${shape} shape (${model})`);
  console.log("| streams | decode ms/update (mean, p95) | window s | partial cadence ms (p50, p95) | lag ms (p50, p95, max) | CPU % | RSS MB |");
  console.log("|---|---|---|---|---|---|---|");
  for (const n of streamCounts) {
    const r = await realtime(t, n);
    console.log(`| ${n} | ${f0(r.decodeMs)}, ${f0(r.decodeP95)} | ${r.window.toFixed(1)} | ${f0(r.cadence)}, ${f0(r.cadenceP95)} | ${f0(r.lagP50)}, ${f0(r.lagP95)}, ${f0(r.lagMax)} | ${f0(r.cpu)} | ${f0(r.rssMB)} |`);
  }
  const bc = await boundedCost(t);
  console.log(`\nBounded cost, one continuous stream (decodes in the 15 s before each mark):`);
  console.log("| at | decodes | decode ms/update | mean window s | RSS MB |");
  console.log("|---|---|---|---|---|");
  for (const b of bc) console.log(`| ${b.mark} s | ${b.decodes} | ${f0(b.decodeMs)} | ${b.window.toFixed(1)} | ${f0(b.rssMB)} |`);
  const ms = bc.map((b) => b.decodeMs);
  console.log(`spread of decode ms/update across marks: ${(((Math.max(...ms) - Math.min(...ms)) / Math.min(...ms)) * 100).toFixed(0)} % (target <= 20 %)`);
  await t.close();
}
