// The speech-to-text seam. A Transcriber turns a window of 16 kHz mono audio into timed,
// scored segments; a SttService owns one shared Transcriber, schedules every session's decodes
// fairly and hands each session a SpeechStream: audio in, typed speech events out.
import type { CommittedSegment } from "../domain/segment.js";
import type { Word } from "../protocol/messages.js";

/** What the service and scheduler read to size and share an engine (nothing else is asked). */
export interface TranscriberCapabilities {
  /**
   * Decodes run on this machine's cores (embedded): they get one thread each from the budget, and
   * the embedded LLM keeps to the cores they leave (onThreadDemand).
   */
  local: boolean;
  /** The encoder window can be cut to the audio's length (whisper.cpp `audio_ctx`): decode cost follows the window, so more streams fit than slots. */
  trimmedEncoder: boolean;
  /** Decodes that may run at once without slowing each other (thread budget / server slots): the scheduler's budget. */
  maxConcurrency: number;
  /** Streams it serves when stt.maxStreams is 0; absent = measured at start from decodes of a typical window. */
  defaultStreams?: number;
}

export interface TranscribeRequest {
  /** 16 kHz mono float32 in [-1, 1]. */
  audio: Float32Array;
  language: string;
  /** Committed text tail, to keep spelling and style consistent across windows. */
  prompt?: string;
  signal?: AbortSignal;
  /** Inference threads for this decode (the scheduler's share); engines without threads ignore it. */
  threads?: number;
  /** Stream time (s) of audio[0]. Engines ignore it; the scripted fake uses it to know "where" it is. */
  offsetSec?: number;
}

export interface TranscribedWord {
  word: string;
  start: number; // seconds, relative to the request's audio start
  end: number;
  probability: number; // 0..1
}

export interface TranscribedSegment {
  text: string;
  start: number;
  end: number;
  words: TranscribedWord[];
  /** Mean token log-probability (whisper's avg_logprob); null when the engine does not tell. */
  avgLogprob: number | null;
  noSpeechProb: number | null;
}

export interface TranscribeResult {
  segments: TranscribedSegment[];
  language: string;
  /** Wall time of the decode, measured by the engine wrapper. */
  decodeMs: number;
}

export interface Transcriber {
  readonly name: string; // e.g. "whisper.cpp:tiny.en"
  readonly capabilities: TranscriberCapabilities;
  transcribe(req: TranscribeRequest): Promise<TranscribeResult>;
  close(): Promise<void>;
}

/** Events of one session's speech stream, in order. Times are seconds since the session's first sample. */
export type SpeechEvent =
  | { type: "speech_started"; at: number; lagMs: number }
  | { type: "partial"; text: string; start: number; end: number; words: Word[]; lagMs: number }
  | ({ type: "final"; reason: "agreement" | "utterance_end" | "flush" | "end" | "window"; lagMs: number } & CommittedSegment)
  | { type: "utterance_end"; at: number; lagMs: number }
  /** After end(): every final has been emitted. The iterator completes after this event. */
  | { type: "ended"; text: string; segments: number; audioMs: number; lagMs: number }
  /** A decode failed; fatal=false means the stream carries on with the next window. */
  | { type: "error"; code: "transcription_failed"; message: string; fatal: boolean };

export interface SpeechStream extends AsyncIterable<SpeechEvent> {
  /** 16 kHz mono float32 samples, in arrival order. Never blocks; decoding happens later. */
  pushAudio(samples: Float32Array): void;
  /** Commit everything pending now; streaming continues. */
  flush(): void;
  /** Commit everything and finish: the iterator yields the last finals, then `ended`, then completes. */
  end(): void;
  /**
   * Abandon the stream at once: no more events, the waiting or running decode is aborted (its
   * engine gets the abort signal). Idempotent; a no-op after `ended`. Use end() to keep pending speech.
   */
  close(): void;
  /** Audio received but not yet decoded, in ms. */
  readonly lagMs: number;
  readonly audioMs: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number; reason: string };

export interface SttStats {
  activeStreams: number;
  capacityStreams: number;
  queuedDecodes: number;
  decodes: number;
  skippedPartials: number;
  decodeMsLast: number;
}

export interface SttService {
  readonly engineName: string;
  readonly updateMs: number;
  /** Admission control: may another real-time stream start without hurting the others? */
  admit(): Admission;
  openStream(opts: { sessionId: string; language: string }): SpeechStream;
  stats(): SttStats;
  /**
   * Calls back with the inference threads live transcription may need now (one per open stream,
   * up to its thread budget; 0 for a remote engine) whenever that changes, and once at once. The
   * embedded LLM keeps to the cores left (docs/analysis.md, "Core policy").
   */
  onThreadDemand(listener: (threads: number) => void): void;
  close(): Promise<void>;
}
