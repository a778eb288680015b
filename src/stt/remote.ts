// Remote engine: any OpenAI-compatible POST /v1/audio/transcriptions server (whisper.cpp's
// server, speaches, vLLM, OpenAI). Each window is uploaded as a 16 kHz WAV with verbose_json
// and word timestamps; the server does the scheduling of its own GPU/CPU.
import { z } from "zod";
import { encodeWav16k } from "../audio/wav.js";
import { SAMPLE_RATE } from "../domain/audio.js";
import { TimeoutError } from "../util/timeout.js";
import type { SttEngineEntry } from "./engines.js";
import { TranscriptionError } from "./errors.js";
import type { TranscribeRequest, TranscribeResult, Transcriber, TranscriberCapabilities, TranscribedSegment, TranscribedWord } from "./types.js";

export interface RemoteTranscriberOptions {
  /** Base URL; "/v1/audio/transcriptions" is appended unless the URL already ends with it. */
  url: string;
  apiKey?: string;
  model: string;
  /** One request may take this long (stt.remoteTimeoutMs); then it is aborted and fails retryable. */
  timeoutMs: number;
  /** Requests in flight at once (the server's slots). */
  maxConcurrency: number;
  /** Streams served when stt.maxStreams is 0. */
  defaultStreams?: number;
}

/** How much of an error body goes into the error message (logs, the client's error event). */
const ERROR_BODY_CHARS = 200;

const VerboseJson = z.object({
  text: z.string(),
  language: z.string().optional(),
  segments: z
    .array(
      z.object({
        text: z.string(),
        start: z.number(),
        end: z.number(),
        avg_logprob: z.number().optional(),
        no_speech_prob: z.number().optional(),
        words: z.array(z.object({ word: z.string(), start: z.number(), end: z.number(), probability: z.number().optional() })).optional(),
      }),
    )
    .optional(),
  words: z.array(z.object({ word: z.string(), start: z.number(), end: z.number(), probability: z.number().optional() })).optional(),
});

export function transcriptionsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, "");
  if (trimmed.endsWith("/audio/transcriptions")) return trimmed;
  return trimmed.endsWith("/v1") ? `${trimmed}/audio/transcriptions` : `${trimmed}/v1/audio/transcriptions`;
}

export class RemoteTranscriber implements Transcriber {
  readonly name: string;
  readonly capabilities: TranscriberCapabilities;
  private readonly endpoint: string;
  private readonly opts: RemoteTranscriberOptions;
  private readonly inflight = new Set<AbortController>();

  constructor(opts: RemoteTranscriberOptions) {
    this.opts = opts;
    this.endpoint = transcriptionsUrl(opts.url);
    this.name = `remote:${opts.model}`;
    this.capabilities = { local: false, trimmedEncoder: false, maxConcurrency: opts.maxConcurrency, ...(opts.defaultStreams ? { defaultStreams: opts.defaultStreams } : {}) };
  }

  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(req.signal?.reason);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    // Not withTimeout: the request itself must be aborted, not just no longer awaited.
    const timer = setTimeout(() => ctrl.abort(new TimeoutError("transcription request", this.opts.timeoutMs)), this.opts.timeoutMs);
    this.inflight.add(ctrl);
    const form = new FormData();
    form.set("file", new Blob([new Uint8Array(encodeWav16k(req.audio))], { type: "audio/wav" }), "audio.wav");
    form.set("model", this.opts.model);
    form.set("language", req.language.split("-")[0]!);
    form.set("response_format", "verbose_json");
    form.set("temperature", "0");
    form.append("timestamp_granularities[]", "word");
    form.append("timestamp_granularities[]", "segment");
    if (req.prompt) form.set("prompt", req.prompt);
    const t0 = performance.now();
    try {
      const res = await fetch(this.endpoint, {
        method: "POST",
        body: form,
        headers: this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {},
        signal: ctrl.signal,
      });
      const body = await res.text();
      if (!res.ok) {
        throw new TranscriptionError(`transcription server answered ${res.status}: ${body.slice(0, ERROR_BODY_CHARS)}`, {
          retryable: res.status === 429 || res.status >= 500,
        });
      }
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        throw new TranscriptionError("transcription server sent invalid JSON (is response_format=verbose_json supported?)");
      }
      const parsed = VerboseJson.safeParse(json);
      if (!parsed.success) throw new TranscriptionError(`unexpected transcription response: ${parsed.error.issues[0]?.message}`);
      return { segments: toSegments(parsed.data, req.audio.length / SAMPLE_RATE), language: parsed.data.language ?? req.language, decodeMs: performance.now() - t0 };
    } catch (e) {
      if (e instanceof TranscriptionError) throw e;
      throw new TranscriptionError(`transcription request failed: ${(e as Error).message}`, { retryable: true, cause: e });
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
      this.inflight.delete(ctrl);
    }
  }

  async close(): Promise<void> {
    for (const c of this.inflight) c.abort(new Error("closed"));
  }
}

function toSegments(data: z.infer<typeof VerboseJson>, duration: number): TranscribedSegment[] {
  const clamp = (t: number) => Math.min(Math.max(t, 0), duration);
  const word = (w: { word: string; start: number; end: number; probability?: number }): TranscribedWord => ({
    word: w.word.trim(),
    start: clamp(w.start),
    end: clamp(Math.max(w.end, w.start)),
    probability: Math.min(1, Math.max(0, w.probability ?? 1)),
  });
  const topWords = (data.words ?? []).map(word).filter((w) => w.word);
  const segs = data.segments ?? [{ text: data.text, start: 0, end: duration }];
  return segs
    .filter((s) => s.text.trim())
    .map((s) => {
      // OpenAI puts words at the top level; some servers nest them per segment.
      const words = s.words ? s.words.map(word).filter((w) => w.word) : topWords.filter((w) => w.start >= s.start - 0.01 && w.start < s.end + 0.01);
      return {
        text: s.text.trim(),
        start: clamp(s.start),
        end: clamp(s.end),
        words: words.length ? words : evenWords(s.text, clamp(s.start), clamp(s.end)),
        avgLogprob: s.avg_logprob ?? null,
        noSpeechProb: s.no_speech_prob ?? null,
      };
    });
}

/** A server without word timestamps: spread the segment's words evenly over it. */
function evenWords(text: string, start: number, end: number): TranscribedWord[] {
  const ws = text.trim().split(/\s+/).filter(Boolean);
  return ws.map((w, i) => ({ word: w, start: start + ((end - start) * i) / ws.length, end: start + ((end - start) * (i + 1)) / ws.length, probability: 1 }));
}

/** stt.engine = "remote": an OpenAI-compatible server at stt.url. */
export const remoteEngine: SttEngineEntry = {
  async create(config) {
    const s = config.stt;
    if (!s.url) throw new Error("stt.engine=remote needs stt.url (PARLANCE_STT_URL)");
    const transcriber = new RemoteTranscriber({
      url: s.url,
      apiKey: s.apiKey,
      model: s.remoteModel,
      timeoutMs: s.remoteTimeoutMs,
      maxConcurrency: s.maxStreams > 0 ? s.maxStreams : s.remoteConcurrency,
      defaultStreams: s.remoteStreams,
    });
    return { kind: "windowed", transcriber };
  },
};
