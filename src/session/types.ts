// What a session is given: the gateway's services (SessionDeps) and the audio ingest seam it
// decodes frames through. Types only, plus the one guard that recognises the ingest's errors.
import type { Config } from "../config/index.js";
import type { TokenVerifier } from "../auth/verifier.js";
import type { StreamConfig } from "../protocol/index.js";
import type { SttService } from "../stt/types.js";
import type { Repository } from "../store/types.js";
import type { AnalysisQueue } from "../jobs/types.js";
import type { MetricsSink } from "../metrics/events.js";
import type { SubjectLedger } from "../transport/ws-limits.js";
import type { Logger } from "../util/log.js";

export interface AudioIngest {
  /** Validates and converts one binary frame to 16 kHz mono float32. */
  decode(frame: Buffer): Float32Array;
  /** Compressed encodings (opus): the decoder is ready; awaited before `ready` is sent. */
  readonly ready?: Promise<void>;
  /** Compressed encodings: frees the decoder when the session ends. */
  close?(): void;
}
export interface AudioFrameErrorLike {
  code: string;
  message: string;
  fatal: boolean;
}
export type AudioIngestFactory = (cfg: StreamConfig) => AudioIngest;

/** How the session's modules report what they measure: the typed events of src/metrics/events.ts. */
export type EmitMetric = MetricsSink["emit"];

export const isAudioError = (e: unknown): e is AudioFrameErrorLike =>
  typeof e === "object" && e !== null && "code" in e && "fatal" in e && "message" in e;

/** The session as the gateway sees it (SessionDeps' callbacks and the subject ledger hold these). */
export interface LiveSessionHandle {
  readonly id: string | null;
}

export interface SessionDeps<S extends LiveSessionHandle = LiveSessionHandle> {
  config: Config;
  log: Logger;
  /** Where the session's metric events go (the gateway's registry). */
  metrics: MetricsSink;
  verifier: TokenVerifier;
  stt: SttService | null;
  audio: AudioIngestFactory | null;
  store: Repository | null;
  analysis: AnalysisQueue | null;
  /** Set when transcription could not start (e.g. no model): sessions are refused with this message. */
  sttUnavailable?: string | null;
  /** Per-subject state shared by the gateway's sessions (session cap, audio rate). */
  subjects?: SubjectLedger<S> | null;
  /** Called when the session has a server-side id (after `ready`), and when it is over. */
  onStarted?(s: S): void;
  onFinished?(s: S): void;
}
