// The embedded engine: whisper.cpp through smart-whisper (docs/stt-engine.md says why this
// binding). One model per process, shared by every session; each decode runs on libuv's thread
// pool with its own whisper state, so the event loop never waits on inference.
import { availableParallelism } from "node:os";
import { WhisperModel, TranscribeTask, WhisperSamplingStrategy, type TranscribeParams } from "smart-whisper";
import { modelsDir } from "../config/index.js";
import { SAMPLE_RATE } from "../domain/audio.js";
import type { SttEngineEntry } from "./engines.js";
import { TranscriptionError } from "./errors.js";
import { resolveModelPath } from "./models.js";
import { meanLogprob, tokensToWords, type TimedToken } from "./words.js";
import type { TranscribeRequest, TranscribeResult, Transcriber, TranscriberCapabilities, TranscribedSegment } from "./types.js";

/** whisper.cpp returns nothing for 1.0 s of audio or less: shorter windows are padded to this. */
const MIN_SAMPLES = Math.round(1.1 * SAMPLE_RATE);
/** One encoder position covers 20 ms of audio (100 mel frames/s, conv stride 2). */
const SAMPLES_PER_AUDIO_CTX = 320;
const FULL_AUDIO_CTX = 1500;

export interface EmbeddedWhisperOptions {
  modelPath: string;
  /** Default threads per decode when the request does not say. */
  threads: number;
  /** "trim": encoder window cut to the audio (mandatory for 1 s cadence on CPU); "full": 30 s. */
  audioCtx: "trim" | "full";
  /**
   * Trimmed encoder only: silence appended after the audio, inside the encoder window. Whisper was
   * trained on speech followed by padding; cut exactly at the last sample, the decoder does not see
   * the speech end and echoes the utterance again (docs/bench-stt-accuracy.md).
   */
  padSec?: number;
  /** Cap on decoded tokens per second of audio: bounds cost and runaway loops. */
  maxTokensPerSecond?: number;
  /** Label for logs and `engine` in the ready message. */
  label?: string;
}

// Process-wide model cache: every Transcriber on one file shares one loaded model.
const shared = new Map<string, { model: Promise<WhisperModel>; refs: number }>();

async function acquire(path: string): Promise<WhisperModel> {
  let entry = shared.get(path);
  if (!entry) {
    entry = { model: WhisperModel.load(path, false), refs: 0 };
    shared.set(path, entry);
    entry.model.catch(() => shared.delete(path));
  }
  entry.refs++;
  return entry.model;
}

async function release(path: string): Promise<void> {
  const entry = shared.get(path);
  if (!entry) return;
  if (--entry.refs > 0) return;
  shared.delete(path);
  const model = await entry.model.catch(() => null);
  await model?.free();
}

/** Number of distinct whisper models loaded in this process (tests check "once per process"). */
export function loadedWhisperModels(): number {
  return shared.size;
}

export function audioCtxFor(samples: number, mode: "trim" | "full"): number {
  if (mode === "full") return FULL_AUDIO_CTX;
  // A few positions of margin so the last word is never cut by rounding.
  return Math.min(FULL_AUDIO_CTX, Math.ceil(samples / SAMPLES_PER_AUDIO_CTX) + 8);
}

type DetailTask = TranscribeTask<"detail", true>;

export class EmbeddedWhisperTranscriber implements Transcriber {
  readonly name: string;
  readonly capabilities: TranscriberCapabilities;
  private readonly opts: EmbeddedWhisperOptions;
  private model: Promise<WhisperModel> | null;
  private closed = false;
  /** Decodes on the libuv pool; the model may not be freed under them (whisper.cpp would segfault). */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(opts: EmbeddedWhisperOptions, model: Promise<WhisperModel>) {
    this.opts = opts;
    this.model = model;
    this.name = `whisper.cpp:${opts.label ?? opts.modelPath.replace(/^.*\//, "")}`;
    this.capabilities = { local: true, trimmedEncoder: opts.audioCtx === "trim", maxConcurrency: Math.max(1, opts.threads) };
  }

  /** Loads (or reuses) the model; rejects with the loader's error for a missing or bad file. */
  static async create(opts: EmbeddedWhisperOptions): Promise<EmbeddedWhisperTranscriber> {
    const model = acquire(opts.modelPath);
    try {
      await model;
    } catch (e) {
      await release(opts.modelPath);
      throw new TranscriptionError(`cannot load whisper model ${opts.modelPath}: ${(e as Error).message}`, { cause: e });
    }
    return new EmbeddedWhisperTranscriber(opts, model);
  }

  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    if (this.closed || !this.model) throw new TranscriptionError("transcriber is closed");
    // A decode on the libuv pool cannot be interrupted; an aborted request is not started.
    if (req.signal?.aborted) throw new TranscriptionError("aborted", { retryable: false });
    const model = await this.model;
    const realSamples = req.audio.length;
    let pcm = req.audio;
    const pad = this.opts.audioCtx === "trim" ? Math.round((this.opts.padSec ?? 0) * SAMPLE_RATE) : 0;
    if (pcm.length + pad < MIN_SAMPLES || pad > 0) {
      const padded = new Float32Array(Math.max(MIN_SAMPLES, pcm.length + pad));
      padded.set(pcm, 0);
      pcm = padded;
    }
    const seconds = pcm.length / SAMPLE_RATE;
    const params: Partial<TranscribeParams<"detail", true>> = {
      strategy: WhisperSamplingStrategy.WHISPER_SAMPLING_GREEDY, // default is beam search: 5x the cost
      best_of: 1,
      n_threads: Math.max(1, req.threads ?? this.opts.threads),
      language: req.language.split("-")[0]!,
      translate: false,
      no_context: true, // context comes from our own prompt tail, never from a previous call
      single_segment: false,
      token_timestamps: true,
      audio_ctx: audioCtxFor(pcm.length, this.opts.audioCtx),
      max_tokens: Math.ceil(seconds * (this.opts.maxTokensPerSecond ?? 8)) + 8,
      temperature: 0,
      temperature_inc: 0, // no fallback re-decodes: bounded cost; guards handle bad output
      suppress_blank: true,
      suppress_non_speech_tokens: true,
      print_progress: false,
      print_realtime: false,
      format: "detail",
    };
    if (req.prompt) params.initial_prompt = req.prompt;
    const t0 = performance.now();
    let raw: unknown;
    try {
      const decode = TranscribeTask.run(model, pcm, params).then((task: DetailTask) => task.result);
      this.inFlight.add(decode);
      void decode.catch(() => undefined).finally(() => this.inFlight.delete(decode));
      raw = await decode;
    } catch (e) {
      throw new TranscriptionError(`whisper.cpp decode failed: ${(e as Error).message}`, { cause: e, retryable: true });
    }
    const decodeMs = performance.now() - t0;
    if (!Array.isArray(raw)) throw new TranscriptionError(`whisper.cpp decode failed: ${String(raw)}`, { retryable: true });
    const audioEnd = realSamples / SAMPLE_RATE;
    const segments: TranscribedSegment[] = [];
    for (const s of raw as Awaited<DetailTask["result"]>) {
      if (s.from / 1000 >= audioEnd) continue; // heard in the appended silence: nothing was said there
      const start = Math.min(s.from / 1000, audioEnd);
      const end = Math.min(Math.max(s.to / 1000, start), audioEnd);
      const tokens: TimedToken[] = s.tokens.map((t) => ({ text: t.text, start: t.from / 1000, end: t.to / 1000, p: t.p }));
      const text = s.text.trim();
      if (!text) continue;
      segments.push({ text, start, end, words: tokensToWords(tokens, start, end), avgLogprob: meanLogprob(tokens), noSpeechProb: null });
    }
    return { segments, language: raw[0]?.lang ?? req.language, decodeMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.model = null;
    // A decode cannot be interrupted, and each is bounded by the window (<= maxWindowMs of audio),
    // so waiting for the running ones is short and is the only safe order.
    await Promise.allSettled([...this.inFlight]);
    await release(this.opts.modelPath);
  }
}

/** stt.engine = "embedded": the model stt.model names, loaded once, stt.threads decodes at once. */
export const embeddedEngine: SttEngineEntry = {
  async create(config) {
    const s = config.stt;
    const modelPath = resolveModelPath(s.model, modelsDir(config));
    const threads = s.threads > 0 ? s.threads : Math.max(1, availableParallelism());
    const transcriber = await EmbeddedWhisperTranscriber.create({ modelPath, threads, audioCtx: s.audioCtx, padSec: s.padMs / 1000, label: s.model.replace(/^.*\//, "") });
    return { kind: "windowed", transcriber };
  },
  localModel: (config) => config.stt.model,
};
