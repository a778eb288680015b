// `parlance stream <file|->`: streams a recording (or raw PCM on stdin) to a server at real-time
// pace through the client SDK, shows partials/finals as they come, then prints the report.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { InvalidArgumentError, type Command } from "commander";
import WebSocket from "ws";
import { z } from "zod";
import { connect, type ParlanceSession } from "../client/session.js";
import { AuthFailedError, ServerBusyError, ServerError, ParlanceClientError, AbortedError, ServiceUnavailableError } from "../client/errors.js";
import { AudioEncoding, type StreamConfigInput } from "../protocol/messages.js";
import type { Report } from "../protocol/report.js";
import { parseWav } from "../audio/wav.js";
import { probeOpusFile } from "../audio/opus.js";

export const ExitCode = { ok: 0, error: 1, usage: 2, auth: 3, busy: 4, analysis: 5, unavailable: 6, interrupted: 130 } as const;

const Options = z.object({
  url: z.string().regex(/^wss?:\/\//, "--url must be a ws:// or wss:// URL"),
  token: z.string().min(1, "--token (or PARLANCE_TOKEN) is required"),
  speed: z.number().positive().max(1000),
  json: z.boolean(),
  insecure: z.boolean(),
  ca: z.string().optional(),
  rate: z.number().int().min(8000).max(48000),
  channels: z.number().int().min(1).max(2),
  encoding: AudioEncoding,
  language: z.string().optional(),
  task: z.string().optional(),
  chunkMs: z.number().int().min(20).max(1000),
});
type Options = z.infer<typeof Options>;

export interface AudioSource {
  config: Pick<StreamConfigInput, "encoding" | "sample_rate" | "channels">;
  /** Raw PCM in `config`'s format (or Opus container bytes), in whatever pieces the source yields. */
  data: AsyncIterable<Buffer>;
  describe: string;
  /** Opus: container bytes per second of audio, for real-time pacing (null: send as they come). */
  opusBytesPerSecond?: number | null;
}

const OPUS_FILE = /\.(ogg|opus|oga|webm)$/i;

/** `--encoding opus`: an Ogg/WebM Opus file as it is, anything else encoded by ffmpeg (client side) to Ogg/Opus 24 kbit/s. */
function openOpusSource(input: string, stdin: Readable): AudioSource {
  if (input === "-") return { config: { encoding: "opus" }, data: stdin, describe: "stdin Ogg/WebM Opus", opusBytesPerSecond: null };
  let bytes: Buffer;
  let how: string;
  if (OPUS_FILE.test(input)) {
    bytes = readFileSync(input);
    how = "sent as it is";
  } else {
    try {
      bytes = execFileSync("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-i", input, "-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "-"], { maxBuffer: 512 * 1024 * 1024 });
    } catch (err) {
      throw new ParlanceClientError((err as NodeJS.ErrnoException).code === "ENOENT" ? "ffmpeg not found: install it, or pass an .ogg/.webm Opus file" : `ffmpeg could not encode ${input} to Opus`);
    }
    how = "ffmpeg -> Ogg/Opus 24 kbit/s";
  }
  const probe = probeOpusFile(bytes);
  return {
    config: { encoding: "opus" },
    data: (async function* () {
      yield bytes;
    })(),
    describe: `${input} (${probe.container}/opus, ${probe.seconds.toFixed(1)} s, ${((bytes.length * 8) / probe.seconds / 1000).toFixed(0)} kbit/s, ${how})`,
    opusBytesPerSecond: bytes.length / Math.max(0.001, probe.seconds),
  };
}

/** Opens the input: WAV parsed natively, other containers decoded by ffmpeg, `-` raw PCM on stdin. */
export function openAudioSource(input: string, o: Pick<Options, "rate" | "channels" | "encoding">, stdin: Readable = process.stdin): AudioSource {
  if (o.encoding === "opus") return openOpusSource(input, stdin);
  if (input === "-") {
    return { config: { encoding: o.encoding, sample_rate: o.rate, channels: o.channels }, data: stdin, describe: `stdin ${o.encoding} ${o.rate} Hz x${o.channels}` };
  }
  if (extname(input).toLowerCase() === ".wav") {
    const buf = readFileSync(input);
    try {
      const wav = parseWav(buf);
      // parseWav keeps the stored bytes for the two encodings the protocol carries; send them as-is.
      const bytesPerSample = wav.pcm.length / Math.max(1, wav.samples.length);
      const encoding = bytesPerSample === 4 ? "pcm_f32le" : "pcm_s16le";
      if (wav.sampleRate >= 8000 && wav.sampleRate <= 48000 && wav.channels <= 2 && (bytesPerSample === 2 || bytesPerSample === 4)) {
        return {
          config: { encoding, sample_rate: wav.sampleRate, channels: wav.channels },
          data: (async function* () {
            yield wav.pcm;
          })(),
          describe: `${input} (${encoding} ${wav.sampleRate} Hz x${wav.channels})`,
        };
      }
    } catch {
      // An unusual WAV (24-bit, A-law, extensible...): let ffmpeg handle it.
    }
  }
  return { config: { encoding: "pcm_s16le", sample_rate: 16000, channels: 1 }, data: ffmpegDecode(input), describe: `${input} (ffmpeg -> pcm_s16le 16 kHz mono)` };
}

async function* ffmpegDecode(input: string): AsyncGenerator<Buffer> {
  const ff = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-i", input, "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", "16000", "-"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  ff.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    ff.once("error", (err: NodeJS.ErrnoException) => reject(new ParlanceClientError(err.code === "ENOENT" ? "ffmpeg not found: install it (apt-get install ffmpeg) or pass a WAV file" : `ffmpeg failed: ${err.message}`)));
    ff.once("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => {}); // awaited below; avoid an unhandled rejection while streaming
  try {
    for await (const chunk of ff.stdout) yield chunk as Buffer;
    const code = await exited;
    if (code !== 0) throw new ParlanceClientError(`ffmpeg could not decode ${input}: ${stderr.trim() || `exit ${code}`}`);
  } finally {
    if (ff.exitCode === null) ff.kill();
  }
}

/** Re-cuts a byte stream into chunks of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(data: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of data) {
    pending = pending.length ? Buffer.concat([pending, piece]) : piece;
    while (pending.length >= size) {
      yield pending.subarray(0, size);
      pending = pending.subarray(size);
    }
  }
  if (pending.length) yield pending;
}

interface Printer {
  partial(text: string): void;
  final(text: string): void;
  info(text: string): void;
  clear(): void;
}

function makePrinter(json: boolean): Printer {
  // With --json, stdout carries only the report; the live transcript goes to stderr.
  const live = json ? process.stderr : process.stdout;
  const tty = Boolean(live.isTTY);
  let partialShown = false;
  const clear = () => {
    if (partialShown) live.write("\r\x1b[2K");
    partialShown = false;
  };
  return {
    partial(text) {
      if (!tty) return; // a log file wants committed lines, not a redrawn line
      const width = (live as NodeJS.WriteStream).columns ?? 80;
      const shown = text.length > width - 4 ? "…" + text.slice(-(width - 5)) : text;
      live.write(`\r\x1b[2K\x1b[2m${shown}\x1b[0m`);
      partialShown = true;
    },
    final(text) {
      clear();
      live.write(text + "\n");
    },
    info(text) {
      clear();
      process.stderr.write(text + "\n");
    },
    clear,
  };
}

export function formatReport(r: Report): string {
  const out: string[] = [];
  const t = r.transcript.text;
  const errors = [...r.errors].filter((e) => e.end <= t.length && e.start < e.end).sort((a, b) => a.start - b.start);
  let marked = "";
  let at = 0;
  for (const e of errors) {
    if (e.start < at) continue;
    marked += t.slice(at, e.start) + `[${t.slice(e.start, e.end)} -> ${e.correction}]`;
    at = e.end;
  }
  marked += t.slice(at);
  out.push("== Report ==", `session ${r.session_id}  quality: ${r.quality}  llm: ${r.llm_status}`);
  if (r.message) out.push(r.message);
  out.push("", "Transcript:", `  ${marked || "(empty)"}`);
  if (errors.length) {
    out.push("", "Errors:");
    for (const e of errors) out.push(`  - "${e.original}" -> "${e.correction}" (${e.type}, ${e.severity}): ${e.explanation}`);
  }
  const f = r.fluency;
  out.push(
    "",
    "Fluency:",
    `  ${f.word_count} words, ${f.words_per_minute.toFixed(0)} wpm (articulation ${f.articulation_rate_wpm.toFixed(0)} wpm), speaking ${f.speaking_time_s.toFixed(1)} s`,
    `  pauses ${f.pauses.count} (longest ${f.pauses.longest_s.toFixed(1)} s, ${f.pauses.over_1s} over 1 s), fillers ${f.fillers.count}, repetitions ${f.repetitions}, self-corrections ${f.self_corrections}`,
  );
  out.push("", `Level: ${r.level.cefr ?? "not estimated"}${r.level.evidence.length ? ` (${r.level.evidence.join("; ")})` : ""}`);
  if (r.strengths.length) out.push("", "Strengths:", ...r.strengths.map((s) => `  + ${s}`));
  if (r.recommendations.length) {
    out.push("", "Recommendations:");
    for (const rec of r.recommendations) {
      out.push(`  * ${rec.title}: ${rec.reason}`);
      for (const res of rec.resources) out.push(`      ${res.title}${res.url ? ` <${res.url}>` : ""}`);
    }
  }
  return out.join("\n") + "\n";
}

/** Streams `input`; resolves with the process exit code. */
export async function runStream(input: string, o: Options): Promise<number> {
  const printer = makePrinter(o.json);
  let source: AudioSource;
  try {
    source = openAudioSource(input, o);
  } catch (err) {
    printer.info(`error: cannot read ${input}: ${(err as Error).message}`);
    return ExitCode.usage;
  }
  const ac = new AbortController();
  let session: ParlanceSession | null = null;
  let interrupts = 0;
  let stopSending = false;
  const onSigint = () => {
    interrupts++;
    // First Ctrl-C: stop sending and still get the report; second: give up.
    if (interrupts === 1) {
      stopSending = true;
      printer.info("interrupted: ending the session (Ctrl-C again to abort)");
    } else ac.abort("interrupted");
  };
  process.on("SIGINT", onSigint);
  try {
    session = await connect(o.url, {
      token: o.token,
      config: { ...source.config, ...(o.language ? { language: o.language } : {}), ...(o.task ? { task: o.task } : {}) },
      WebSocket: WebSocket as never,
      ...(o.ca ? { ca: readFileSync(o.ca, "utf8") } : {}),
      ...(o.insecure ? { rejectUnauthorized: false } : {}),
      signal: ac.signal,
    });
    const s = session;
    printer.info(`streaming ${source.describe} at ${o.speed}x to session ${s.sessionId}`);
    const events = (async () => {
      for await (const ev of s) {
        if (ev.type === "partial") printer.partial(ev.text);
        else if (ev.type === "final") printer.final(ev.text);
        else if (ev.type === "error") printer.info(`server ${ev.fatal ? "error" : "warning"}: ${ev.code}: ${ev.message}`);
      }
    })();
    events.catch(() => {}); // its failure is the session's failure, reported through end()
    const cfg = s.config;
    const opus = cfg.encoding === "opus";
    // Opus stdin has no known rate: it is sent as it arrives (the producer paces it).
    const bytesPerSecond = opus ? (source.opusBytesPerSecond ?? Number.POSITIVE_INFINITY) : cfg.sample_rate * cfg.channels * (cfg.encoding === "pcm_f32le" ? 4 : 2);
    const frameBytes = opus ? 1 : cfg.channels * (cfg.encoding === "pcm_f32le" ? 4 : 2);
    const chunkBytes = Number.isFinite(bytesPerSecond) ? Math.max(frameBytes, Math.round((bytesPerSecond * o.chunkMs) / 1000 / frameBytes) * frameBytes) : 4096;
    const t0 = performance.now();
    let sentBytes = 0;
    for await (const chunk of rechunk(source.data, chunkBytes)) {
      if (stopSending || ac.signal.aborted) break;
      // Pace by the audio clock, not by counting sleeps, so timer slack never accumulates.
      const due = t0 + ((sentBytes / bytesPerSecond) * 1000) / o.speed;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (s.bufferedAmount > 1 << 20) await sleep(20);
      s.sendAudio(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer);
      sentBytes += chunk.length;
    }
    // The last chunk covers audio up to its end: wait that long so real-time pacing is honest.
    const last = t0 + ((sentBytes / bytesPerSecond) * 1000) / o.speed - performance.now();
    if (last > 0 && !stopSending) await sleep(last);
    const report = await s.end();
    await events.catch(() => {});
    printer.clear();
    if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
    else process.stdout.write("\n" + formatReport(report));
    s.close();
    return ExitCode.ok;
  } catch (err) {
    printer.clear();
    session?.abort();
    if (err instanceof AuthFailedError) {
      printer.info(`error: authentication failed (${err.code}): ${err.message}`);
      return ExitCode.auth;
    }
    if (err instanceof ServiceUnavailableError) {
      printer.info(`error: ${err.message}`);
      return ExitCode.unavailable;
    }
    if (err instanceof ServerBusyError) {
      printer.info(`error: ${err.message}`);
      return ExitCode.busy;
    }
    if (err instanceof ServerError) {
      printer.info(`error: ${err.message}`);
      return ExitCode.analysis;
    }
    if (err instanceof AbortedError) {
      printer.info("aborted");
      return ExitCode.interrupted;
    }
    const msg = err instanceof Error ? err.message : String(err);
    const hint = /self[- ]signed|certificate/i.test(msg) ? " (a dev certificate? pass --ca <cert.pem> or --insecure)" : "";
    printer.info(`error: ${msg}${hint}`);
    return ExitCode.error;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

export function registerStreamCommand(program: Command): void {
  program
    .command("stream")
    .description("stream a recording (wav natively; flac/mp3/... through ffmpeg) or raw PCM from stdin (-) and print the transcript and report")
    .argument("<input>", "audio file, or - for raw PCM on stdin")
    .option("--url <url>", "server stream URL, e.g. wss://127.0.0.1:8443/v1/stream", process.env.PARLANCE_URL ?? "wss://127.0.0.1:8443/v1/stream")
    .option("--token <jwt>", "access token (env PARLANCE_TOKEN)", process.env.PARLANCE_TOKEN)
    .option("--speed <n>", "pace multiplier: 1 = real time, 4 = four times faster", num("--speed"), 1)
    .option("--json", "print the report as JSON on stdout (live transcript goes to stderr)", false)
    .option("--insecure", "accept any TLS certificate (dev only)", false)
    .option("--ca <file>", "extra CA certificate (PEM), e.g. the dev server's data/tls/cert.pem")
    .option("--rate <hz>", "stdin: sample rate", num("--rate"), 16000)
    .option("--channels <n>", "stdin: channels", num("--channels"), 1)
    .option("--encoding <enc>", "pcm_s16le or pcm_f32le (stdin), or opus: send Ogg/WebM Opus (other files are encoded to Ogg/Opus 24 kbit/s with ffmpeg first)", "pcm_s16le")
    .option("--language <tag>", "spoken language (BCP 47), default en")
    .option("--task <text>", "the prompt the learner answered, for the analysis")
    .option("--chunk-ms <ms>", "audio per frame", num("--chunk-ms"), 250)
    .action(async (input: string, raw: Record<string, unknown>) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        console.error(`error: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
        process.exitCode = ExitCode.usage;
        return;
      }
      process.exitCode = await runStream(input, parsed.data);
    });
}
