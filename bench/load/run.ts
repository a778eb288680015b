// Load and soak benchmark (issue 8): N wss connections authenticate against a real `parlance
// serve` child process (tiny.en-shaped random-weight Whisper, SQLite, no LLM) and each streams
// real speech in 8000-byte chunks every 250 ms, then ends. Reports connections held vs refused,
// messages, lag, event latency, partial cadence, server CPU/RSS over time, crashes and lost finals
// (client finals compared with the store), and fails on the acceptance figures.
// Loopback only, bounded in count and time, stops by itself.
// Usage: npm run bench:load -- [--connections 200] [--seconds 60] [--model tiny.en|base.en]
//          [--max-streams N (0 = measured capacity)] [--threads N] [--concurrency 16]
//          [--end-timeout 30 (s)] [--keep]
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Agent, request } from "node:https";
import { SignJWT } from "jose";
import { loadConfig } from "../../src/config/index.js";
import { createRepository } from "../../src/store/index.js";
import { ensureDevCertificate } from "../../src/transport/tls.js";
import { readWav } from "../../src/audio/wav.js";
import { silentLogger } from "../../src/util/log.js";
import { AUDIO_DIR, randomModel } from "../../test/helpers/models.js";
import { startServer, startSampler, type Sample } from "./server.js";
import { LoadClient } from "./client.js";

const ROOT = resolve(import.meta.dirname, "../..");
const argv = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const connections = Number(arg("connections", "200"));
const seconds = Number(arg("seconds", "60"));
const shape = arg("model", "tiny.en") as "tiny.en" | "base.en";
const maxStreams = Number(arg("max-streams", "0"));
const threads = Number(arg("threads", String(availableParallelism())));
// Connections waiting for their auth verdict at once: below the per-IP pending cap (64), so the
// bench measures admission control, not the upgrade flood guard.
const concurrency = Number(arg("concurrency", "16"));
const keep = argv.includes("--keep");
if (!(connections >= 1 && connections <= 1000) || !(seconds >= 4 && seconds <= 600) || !["tiny.en", "base.en"].includes(shape)) {
  console.error("usage: bench:load [--connections 1..1000] [--seconds 4..600] [--model tiny.en|base.en] [--max-streams N] [--threads N]");
  process.exit(2);
}

const CHUNK_MS = 250;
const CHUNK_BYTES = 8000; // 250 ms of 16 kHz mono s16le
const WARMUP_S = Math.min(20, Math.round(seconds / 3));
// A session's `end` waits for every pending final; under forced overload (--max-streams above
// capacity) that queue is long, so the bound is a flag.
const END_TIMEOUT_MS = Number(arg("end-timeout", "30")) * 1000;
const CLOSE_TIMEOUT_MS = 30_000;
// Everything (start-up, ramp, streaming, ending, store check) must finish within this.
const HARD_TIMEOUT_MS = 120_000 + seconds * 1000 + END_TIMEOUT_MS + CLOSE_TIMEOUT_MS;
// Random per run: production mode refuses a secret published in the repository (docs/security.md).
const SECRET = randomBytes(32).toString("base64url");

// ---- helpers -----------------------------------------------------------------------------------

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const median = (xs: number[]) => pct(xs, 50);
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Real speech, looped: jfk.wav then the LibriSpeech utterance (both 16 kHz mono s16le). */
function speechLoop(): Buffer {
  const parts = ["jfk.wav", "librispeech-7902-96591-0000.wav"].map((f) => {
    const w = readWav(join(AUDIO_DIR, f));
    if (w.sampleRate !== 16000 || w.channels !== 1 || w.encoding !== "pcm_s16le") throw new Error(`${f}: expected 16 kHz mono s16le`);
    return w.pcm;
  });
  return Buffer.concat(parts);
}

async function scrapeMetrics(url: string, ca: string): Promise<Record<string, number>> {
  const text = await new Promise<string>((ok, fail) => {
    const req = request(`${url}/metrics`, { ca, agent: new Agent({ ca }), timeout: 10_000 }, (res) => {
      let b = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (b += d));
      res.on("end", () => ok(b));
    });
    req.on("timeout", () => req.destroy(new Error("metrics timeout")));
    req.on("error", fail);
    req.end();
  });
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("parlance_") || line.includes("_bucket")) continue;
    const m = /^(\S+)\s+(\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---- run ---------------------------------------------------------------------------------------

const dataDir = mkdtempSync(join(tmpdir(), "parlance-bench-load-"));
const startedAt = new Date();
const load0 = loadavg();
let hardTimer: NodeJS.Timeout | undefined;
let killChild: (() => void) | null = null;
hardTimer = setTimeout(() => {
  console.error(`bench:load: hard timeout after ${HARD_TIMEOUT_MS} ms; killing the server`);
  killChild?.();
  process.exit(3);
}, HARD_TIMEOUT_MS);

const modelPath = randomModel(shape);
// A self-signed certificate made up front, so the server runs in production mode (explicit cert,
// JWT secret): no dev-only paths are exercised.
const tls = await ensureDevCertificate(dataDir);
const ca = readFileSync(tls.cert, "utf8");
const env: Record<string, string> = {
  PARLANCE_DEV: "0",
  PARLANCE_HOST: "127.0.0.1",
  PARLANCE_PORT: "0",
  PARLANCE_DATA_DIR: dataDir,
  PARLANCE_TLS_CERT: tls.cert,
  PARLANCE_TLS_KEY: tls.key,
  PARLANCE_JWT_SECRET: SECRET,
  PARLANCE_LOG_LEVEL: "info",
  PARLANCE_STT_ENGINE: "embedded",
  PARLANCE_STT_MODEL: modelPath,
  PARLANCE_STT_THREADS: String(threads),
  PARLANCE_STT_MAX_STREAMS: String(maxStreams),
  // Random weights decode to low-probability text that the default guard drops, which would leave
  // no finals to check; relaxed as in the pipeline tests (only this guard).
  PARLANCE_STT_LOGPROB_THRESHOLD: "-100",
  PARLANCE_LLM_PROVIDER: "fake",
  PARLANCE_LIMITS_MAX_CONNECTIONS: String(Math.max(1000, connections + 10)),
};
console.log(`# parlance bench:load  (${connections} connections, ${seconds} s each, ${shape} shape random weights, ${availableParallelism()} cores, ${threads} STT threads, max streams ${maxStreams || "measured"})`);
console.log(`load average at start: ${load0.map((x) => x.toFixed(2)).join(" ")}`);
const tStart = performance.now();
const server = await startServer(env, 120_000);
killChild = () => server.child.kill("SIGKILL");
console.log(`server pid ${server.pid} at ${server.url}; started in ${f0(performance.now() - tStart)} ms; STT: ${JSON.stringify(server.log.sttReady)}`);
const sampler = startSampler(server.pid, 1000);
const now = sampler.now;

const pcm = speechLoop();
const secret = new TextEncoder().encode(SECRET);
const exp = Math.floor(Date.now() / 1000) + 3600 + seconds * 2;
const clients: LoadClient[] = [];
for (let i = 0; i < connections; i++) {
  const token = await new SignJWT({ sub: `load-${i}` }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime(exp).sign(secret);
  // Different start points in the loop and across the tick: independent speakers, not a chorus.
  const offset = ((i * 37) % Math.floor(pcm.length / CHUNK_BYTES)) * CHUNK_BYTES;
  clients.push(
    new LoadClient({
      url: server.wsUrl,
      ca,
      token,
      pcm,
      offset,
      chunkBytes: CHUNK_BYTES,
      chunks: Math.round((seconds * 1000) / CHUNK_MS),
      chunkMs: CHUNK_MS,
      phaseMs: Math.round((i * CHUNK_MS) / connections),
      pingEveryMs: 2000,
      endTimeoutMs: END_TIMEOUT_MS,
      closeTimeoutMs: CLOSE_TIMEOUT_MS,
      now,
    }),
  );
}

// Ramp: at most `concurrency` connections awaiting their verdict at once.
const tRamp0 = now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(concurrency, connections) }, async () => {
    while (next < clients.length) {
      const c = clients[next++]!;
      c.start();
      await c.verdict;
    }
  }),
);
const tRamp1 = now();
const held0 = clients.filter((c) => c.tReady !== null).length;
console.log(`ramp: ${connections} verdicts in ${f0(tRamp1 - tRamp0)} ms; ready ${held0}, busy ${clients.filter((c) => c.outcome === "busy").length}, other ${clients.filter((c) => c.tReady === null && c.outcome !== "busy").length}`);

// Progress line every 10 s while streaming, so a long run shows it is alive.
const progress = setInterval(() => {
  const s = sampler.samples.at(-1);
  const open = clients.filter((c) => c.tReady !== null && c.tClosed === null).length;
  const lags = clients.flatMap((c) => c.lags.slice(-8));
  console.log(`  t=${f0(now() / 1000)} s  streaming ${open}  lag p50 ${f0(median(lags))} ms  server CPU ${f0(s?.cpu ?? NaN)} %  RSS ${f0(s?.rssMb ?? NaN)} MB  load ${f1(s?.load1 ?? NaN)}`);
}, 10_000);
await Promise.all(clients.map((c) => c.done));
clearInterval(progress);
const tAllDone = now();

// The server after the load: metrics, then a few idle seconds of RSS, then a graceful stop.
let metrics: Record<string, number> = {};
let metricsError: string | null = null;
try {
  metrics = await scrapeMetrics(server.url, ca);
} catch (e) {
  metricsError = (e as Error).message;
}
await sleep(5000);
sampler.stop();
const crashDuringRun = server.crashed();
const stopped = await server.stop(20_000);
clearTimeout(hardTimer);

// ---- lost finals: what each client received vs what the store holds -------------------------------

const store = await createRepository(loadConfig({ env: { PARLANCE_DATA_DIR: dataDir, PARLANCE_JWT_SECRET: SECRET } }), silentLogger);
let storeMissing = 0; // committed (in the store) but never received by the client
let clientOnly = 0; // received as final but not in the store
let textMismatch = 0;
// Stored after the bench itself gave up on the connection (its timeout closed the socket): the
// server could not deliver these, and keeping them is the documented behaviour, not a loss.
let afterGiveUp = 0;
let endedMismatch = 0;
let storeSessionsNotEnded = 0;
let storeSegments = 0;
const lossExamples: string[] = [];
const held = clients.filter((c) => c.sessionId !== null);
// A final stored this long before the client gave up had time to arrive (loopback; the ping RTT
// p99 is reported alongside).
const DELIVERY_MARGIN_MS = 5000;
for (const c of held) {
  const rec = await store.getSession(c.sessionId!);
  if (!rec) {
    clientOnly += c.finals.size;
    lossExamples.push(`${c.sessionId}: no session record`);
    continue;
  }
  if (rec.status !== "ended") storeSessionsNotEnded++;
  const segs = await store.getSegments(c.sessionId!);
  storeSegments += segs.length;
  const stored = new Map(segs.map((s) => [s.segmentId, s]));
  for (const [id, seg] of stored) {
    if (!c.finals.has(id)) {
      if (c.gaveUpAt !== null && Date.parse(seg.createdAt) > c.gaveUpAt - DELIVERY_MARGIN_MS) {
        afterGiveUp++;
        continue;
      }
      storeMissing++;
      if (lossExamples.length < 10) lossExamples.push(`${c.sessionId}: segment ${id} stored ${seg.createdAt}, not received`);
    } else if (c.finals.get(id) !== seg.text) {
      textMismatch++;
      if (lossExamples.length < 10) lossExamples.push(`${c.sessionId}: segment ${id} text differs`);
    }
  }
  for (const id of c.finals.keys()) {
    if (!stored.has(id)) {
      clientOnly++;
      if (lossExamples.length < 10) lossExamples.push(`${c.sessionId}: segment ${id} received, not stored`);
    }
  }
  if (c.endedSegments !== null && c.endedSegments !== c.finals.size) endedMismatch++;
}
// Sessions the store knows that no client saw `ready` for would be admitted-but-lost connections.
const storeIds = new Set<string>();
for (let i = 0; i < connections; i++) for (const s of await store.listSessions(`load-${i}`, { limit: 50 })) storeIds.add(s.id);
const unknownStoreSessions = [...storeIds].filter((id) => !held.some((c) => c.sessionId === id)).length;
await store.close();
const lostFinals = storeMissing + clientOnly + textMismatch;

// ---- figures -------------------------------------------------------------------------------------

const by = (o: string) => clients.filter((c) => c.outcome === o);
const failed = by("failed");
const totalCounts: Record<string, number> = {};
for (const c of clients) for (const [k, v] of Object.entries(c.counts)) totalCounts[k] = (totalCounts[k] ?? 0) + v;
const errorCodes: Record<string, number> = {};
for (const c of clients) for (const e of c.errors) errorCodes[e.code] = (errorCodes[e.code] ?? 0) + 1;
const lags = held.flatMap((c) => c.lags);
const latencies = held.flatMap((c) => c.latencies);
const rtts = held.flatMap((c) => c.rtts);
const sendLate = held.flatMap((c) => c.sendLate);
const gaps = held.flatMap((c) => c.partialTimes.slice(1).map((t, i) => t - c.partialTimes[i]!));
// lag_ms only exists on events, so a starved session is invisible in the lag figures: count them.
const silentSessions = held.filter((c) => !c.counts.partial && !c.counts.final).length;
const partialsPerMin = held.map((c) => (c.counts.partial ?? 0) / (seconds / 60));
const authMs = clients.filter((c) => c.tReady !== null).map((c) => c.tReady! - c.tConnect);
const verdictMs = clients.filter((c) => c.tVerdict !== null).map((c) => c.tVerdict! - c.tConnect);
const endToEnded = held.filter((c) => c.tEnded !== null && c.tEndSent !== null).map((c) => c.tEnded! - c.tEndSent!);
const seqErrors = sum(held.map((c) => c.seqErrors));
const duplicateFinals = sum(held.map((c) => c.duplicateFinals));
const chunksSent = sum(held.map((c) => c.chunksSent));

// Phases on the sampler clock: streaming starts with the first `ready`, ends with the first `end`.
const firstReady = Math.min(...held.map((c) => c.tReady!)) / 1000;
const firstEnd = Math.min(...held.filter((c) => c.tEndSent !== null).map((c) => c.tEndSent!)) / 1000;
const samples = sampler.samples;
const around = (t: number, w: number) => samples.filter((s) => s.t >= t - w && s.t <= t + w);
const rssAt = (t: number) => median(around(t, 2).map((s) => s.rssMb));
const rssStart = samples[0]?.rssMb ?? NaN;
const rssWarm = rssAt(firstReady + WARMUP_S);
const rssEndStream = median(samples.filter((s) => s.t > firstEnd - 5 && s.t <= firstEnd).map((s) => s.rssMb));
const rssMax = Math.max(...samples.map((s) => s.rssMb));
const rssIdleAfter = samples.at(-1)?.rssMb ?? NaN;
const rssGrowth = (rssEndStream - rssWarm) / rssWarm;
const streamSamples = samples.filter((s) => s.t >= firstReady && s.t <= firstEnd);
const cpuStream = streamSamples.map((s) => s.cpu);
const load1 = samples.map((s) => s.load1);

// A crash is the server dying on its own, or dying some other way than a clean exit when asked to
// stop (a signal such as SIGSEGV during the graceful shutdown, or a hang that needed SIGKILL).
const shutdownClean = !stopped.killed && stopped.code === 0;
const crashes = crashDuringRun || !shutdownClean ? 1 : 0;

console.log(`\n## Connections (${connections} attempted)`);
console.log("| held (ready) | completed (ended + close 1000) | busy (1013) | refused upgrade (429/503) | failed |");
console.log("|---|---|---|---|---|");
console.log(`| ${held.length} | ${by("completed").length} | ${by("busy").length} | ${by("refused_upgrade").length} | ${failed.length} |`);
console.log(`connect -> ready ms p50/p99: ${f0(median(authMs))} / ${f0(pct(authMs, 99))}; connect -> any verdict (ready/busy/error) p50/p99: ${f0(median(verdictMs))} / ${f0(pct(verdictMs, 99))}; ramp ${f0(tRamp1 - tRamp0)} ms`);

console.log(`\n## Messages received (all connections)`);
console.log("| " + Object.keys(totalCounts).sort().join(" | ") + " |");
console.log("|" + Object.keys(totalCounts).map(() => "---|").join(""));
console.log("| " + Object.keys(totalCounts).sort().map((k) => totalCounts[k]).join(" | ") + " |");
console.log(`audio chunks sent by held sessions: ${chunksSent} (${f1((chunksSent * CHUNK_BYTES) / 1048576)} MiB); error codes: ${JSON.stringify(errorCodes)}; seq gaps/repeats: ${seqErrors}; duplicate finals: ${duplicateFinals}`);

console.log(`\n## Latency and cadence (held sessions)`);
console.log("| figure | p50 | p99 | max | n |");
console.log("|---|---|---|---|---|");
const row = (name: string, xs: number[]) => console.log(`| ${name} | ${f0(median(xs))} | ${f0(pct(xs, 99))} | ${f0(xs.length ? Math.max(...xs) : NaN)} | ${xs.length} |`);
row("lag_ms on partial/final (server)", lags);
row("event latency ms (lag_ms + ping RTT)", latencies);
row("ws ping RTT ms", rtts);
row("partial interval ms", gaps);
row("end -> ended ms", endToEnded);
row("chunk send lateness ms (bench side)", sendLate);
console.log(`partials per session per minute: p50 ${f1(median(partialsPerMin))}, min ${f1(Math.min(...partialsPerMin))}, max ${f1(Math.max(...partialsPerMin))}; held sessions that never got a partial or final: ${silentSessions}`);

console.log(`\n## Server process (pid ${server.pid}), sampled every second`);
console.log("| t s | phase | CPU % (of 1 core) | RSS MB | threads | machine CPU % | bench CPU % | load1 |");
console.log("|---|---|---|---|---|---|---|---|");
const phase = (t: number) => (t < firstReady ? "start" : t <= firstEnd ? "stream" : t * 1000 <= tAllDone ? "ending" : "idle");
const step = Math.max(1, Math.round(samples.length / 16));
for (let i = 0; i < samples.length; i += step) {
  const s = samples[i]!;
  console.log(`| ${f0(s.t)} | ${phase(s.t)} | ${f0(s.cpu)} | ${f0(s.rssMb)} | ${s.threads} | ${f0(s.machineCpu)} | ${f0(s.benchCpu)} | ${s.load1.toFixed(2)} |`);
}
console.log(`server CPU while streaming: mean ${f0(sum(cpuStream) / Math.max(1, cpuStream.length))} %, p99 ${f0(pct(cpuStream, 99))} %`);
console.log(`RSS MB: start ${f0(rssStart)}, after warm-up (${WARMUP_S} s into streaming) ${f0(rssWarm)}, end of streaming ${f0(rssEndStream)}, max ${f0(rssMax)}, idle after ${f0(rssIdleAfter)}; growth after warm-up ${f1(rssGrowth * 100)} %`);
console.log(`load average (1 min) during the run: min ${f1(Math.min(...load1))}, median ${f1(median(load1))}, max ${f1(Math.max(...load1))}`);

console.log(`\n## Server side`);
console.log(`log lines by level: ${JSON.stringify(server.log.byLevel)}; busy refusals logged: ${server.log.busyRefusals}`);
if (metricsError) console.log(`metrics scrape failed: ${metricsError}`);
else {
  const pick = Object.entries(metrics).filter(([k]) => /messages_out|busy_rejections|dropped_partials|finals_total|closes_total|rejected_upgrades|bad_audio|parlance_connections/.test(k));
  console.log(`metrics: ${pick.map(([k, v]) => `${k.replace(/^parlance_/, "")}=${v}`).join(", ")}`);
}
for (const e of server.log.errors.slice(0, 5)) console.log(`  server error: ${e.slice(0, 400)}`);
console.log(`exit: ${crashDuringRun ? `CRASHED during the run (${JSON.stringify(crashDuringRun)})` : `stopped by SIGTERM -> code ${stopped.code}${stopped.signal ? ` signal ${stopped.signal}` : ""}${stopped.killed ? " (had to SIGKILL)" : ""}`}`);

console.log(`\n## Acceptance`);
const finalsReceived = sum(held.map((c) => c.finals.size));
const verdicts = [
  { name: "crashes (exit during the run, or not a clean exit 0 on SIGTERM)", value: crashes, ok: crashes === 0 },
  { name: "lost finals (stored-not-received + received-not-stored + text differs)", value: lostFinals, ok: lostFinals === 0 },
  // Whisper's per-decode buffers grow with the windows seen during the first ~20 s; a shorter run
  // has no steady state to compare with, so its RSS figure is printed but not judged.
  {
    name: seconds >= 40 ? "RSS growth after warm-up %" : "RSS growth after warm-up % (not judged: run shorter than 40 s)",
    value: Number((rssGrowth * 100).toFixed(1)),
    ok: seconds < 40 || (Number.isFinite(rssGrowth) && rssGrowth < 0.1),
  },
  { name: "sessions held (something was measured)", value: held.length, ok: held.length > 0 },
];
console.log(`finals received ${finalsReceived}, segments in store ${storeSegments}; stored-not-received ${storeMissing}, received-not-stored ${clientOnly}, text differs ${textMismatch}, stored after the bench gave up on the socket (not counted) ${afterGiveUp}; ended.segments != finals: ${endedMismatch}; sessions not 'ended' in store: ${storeSessionsNotEnded}; store sessions unknown to clients: ${unknownStoreSessions}; clean shutdown: ${shutdownClean}`);
for (const x of lossExamples) console.log(`  ${x}`);
for (const c of failed.slice(0, 10)) console.log(`  failed connection ${c.sessionId ?? "(no session)"}: ${c.failure}`);
for (const v of verdicts) console.log(`${v.ok ? "PASS" : "FAIL"}  ${v.name}: ${v.value}`);

const outDir = join(ROOT, "bench/out");
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, `load-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
const summary = (xs: number[]) => ({ n: xs.length, p50: median(xs), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : null });
writeFileSync(
  outFile,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      args: { connections, seconds, model: shape, maxStreams, threads, concurrency },
      machine: { cores: availableParallelism(), loadavgStart: load0, loadavgEnd: loadavg() },
      server: { pid: server.pid, stt: server.log.sttReady, log: server.log, exit: stopped, crashDuringRun, metrics },
      connections: { attempted: connections, held: held.length, completed: by("completed").length, busy: by("busy").length, refusedUpgrade: by("refused_upgrade").length, failed: failed.length, failures: failed.map((c) => c.failure) },
      messages: totalCounts,
      errorCodes,
      seqErrors,
      duplicateFinals,
      chunksSent,
      latency: { lagMs: summary(lags), eventLatencyMs: summary(latencies), rttMs: summary(rtts), partialIntervalMs: summary(gaps), endToEndedMs: summary(endToEnded), authMs: summary(authMs), verdictMs: summary(verdictMs), sendLateMs: summary(sendLate) },
      partialsPerSessionPerMin: summary(partialsPerMin),
      silentSessions,
      rss: { start: rssStart, warm: rssWarm, endOfStreaming: rssEndStream, max: rssMax, idleAfter: rssIdleAfter, growth: rssGrowth, warmupS: WARMUP_S },
      phases: { firstReadyS: firstReady, firstEndS: firstEnd, allDoneS: tAllDone / 1000 },
      finals: { received: finalsReceived, stored: storeSegments, storeMissing, clientOnly, textMismatch, afterGiveUp, endedMismatch, storeSessionsNotEnded, unknownStoreSessions, examples: lossExamples },
      samples: samples satisfies Sample[],
      sessions: held.map((c) => ({ id: c.sessionId, outcome: c.outcome, close: c.closeCode, counts: c.counts, finals: c.finals.size, lagP50: median(c.lags), lagMax: c.lags.length ? Math.max(...c.lags) : null, failure: c.failure })),
      verdicts,
    },
    null,
    1,
  ),
);
console.log(`\nJSON: ${outFile}`);
if (!keep) rmSync(dataDir, { recursive: true, force: true });
else console.log(`data dir kept: ${dataDir}`);
const ok = verdicts.every((v) => v.ok);
console.log(ok ? "bench:load: acceptance holds" : "bench:load: ACCEPTANCE FAILED");
process.exit(ok ? 0 : 1);
