// A streaming session's audio path: binary frames -> validated samples -> the speech stream,
// under the learner's audio rate and the per-session bound on undecoded audio, and the count of
// audio received. Each frame gets a verdict (did it keep the session alive, and what the client
// should be told); the session acts on it.
import { BYTES_PER_SAMPLE, DECODED_BYTES_PER_SAMPLE, SAMPLE_RATE } from "../domain/audio.js";
import { ErrorCodes, type ErrorCode, type StreamConfig } from "../protocol/index.js";
import type { SpeechStream } from "../stt/types.js";
import type { SubjectLedger } from "../transport/ws-limits.js";
import type { Logger } from "../util/log.js";
import { isAudioError, type AudioIngest, type EmitMetric } from "./types.js";

const STREAM_SAMPLES_PER_MS = SAMPLE_RATE / 1000;
/** Undecoded audio in the speech stream, in bytes per millisecond. */
const UNDECODED_BYTES_PER_MS = STREAM_SAMPLES_PER_MS * DECODED_BYTES_PER_SAMPLE;
/** A session that drops more than this share of audioBurstMs over the rate is closed. */
const DROPPED_SHARE_OF_BURST = 1 / 4;

export interface FrameVerdict {
  /** The frame counts as activity (the idle deadline restarts). */
  alive: boolean;
  /** What the client should be told, if anything; fatal ends the session. */
  error?: { code: ErrorCode; message: string; fatal: boolean };
}

export interface IntakeDeps {
  cfg: StreamConfig;
  ingest: AudioIngest | null;
  stream: SpeechStream | null;
  /** The ledger and subject whose audio bucket this session draws on, when rates are limited. */
  subjects: SubjectLedger<object> | null;
  subject: string | null;
  limits: { maxUndecodedAudioBytes: number; audioRealtimeRatio: number; audioBurstMs: number; noticeIntervalMs: number };
  emit: EmitMetric;
  log: Logger;
}

const asCode = (code: string, fallback: ErrorCode): ErrorCode => (code in ErrorCodes ? (code as ErrorCode) : fallback);

export class AudioIntake {
  private audioBytes = 0;
  private decodedSamples = 0;
  private droppedMs = 0;
  private rateNoticeSent = false;
  private backlogNoticeAt = -Infinity;

  constructor(private readonly d: IntakeDeps) {}

  /** Audio received, in ms: decoded length for compressed input, byte count for PCM. */
  get audioMs(): number {
    if (this.d.cfg.encoding === "opus") return Math.round(this.decodedSamples / STREAM_SAMPLES_PER_MS);
    return Math.round(this.bytesToMs(this.audioBytes));
  }

  accept(buf: Buffer): FrameVerdict {
    // Compressed audio: its length is known only once decoded (bounded per frame by the ingest),
    // so the rate and backlog limits below count decoded audio, not bytes.
    let decoded: Float32Array | null = null;
    if (this.d.cfg.encoding === "opus" && this.d.ingest) {
      const r = this.decode(buf);
      if (!r.samples) return { alive: false, ...r };
      decoded = r.samples;
    }
    const frameMs = decoded ? decoded.length / STREAM_SAMPLES_PER_MS : this.bytesToMs(buf.length);
    // Rate: a learner's audio may run ahead of real time by the burst, then at most
    // audioRealtimeRatio x real time (one bucket per subject, so reconnecting does not refill it).
    if (this.d.subject && this.d.subjects && !this.d.subjects.takeAudio(this.d.subject, frameMs)) return this.overRate(frameMs);
    const backlog = this.overBacklog(frameMs);
    if (backlog) return backlog;
    this.audioBytes += buf.length;
    const { ingest, stream } = this.d;
    if (!ingest || !stream) return { alive: true };
    const r = decoded ? { samples: decoded } : this.decode(buf);
    if (!r.samples) return { alive: true, ...r };
    this.decodedSamples += r.samples.length;
    if (r.samples.length > 0) stream.pushAudio(r.samples);
    return { alive: true };
  }

  /** One frame through the ingest; a bad frame is counted and reported (typed error), no samples. */
  private decode(buf: Buffer): { samples: Float32Array | null; error?: FrameVerdict["error"] } {
    try {
      return { samples: this.d.ingest!.decode(buf) };
    } catch (e) {
      if (!isAudioError(e)) throw e;
      this.d.emit({ type: "session.bad_audio_frame", code: e.code });
      if (e.fatal) return { samples: null, error: { code: asCode(e.code, "unsupported_audio"), message: e.message, fatal: true } };
      return { samples: null, error: { code: asCode(e.code, "bad_audio"), message: `${e.message}; frame skipped`, fatal: false } };
    }
  }

  /** Memory: undecoded audio per session is bounded in bytes, whatever the decoder's pace. */
  private overBacklog(frameMs: number): FrameVerdict | null {
    const stream = this.d.stream;
    if (!stream || (stream.lagMs + frameMs) * UNDECODED_BYTES_PER_MS <= this.d.limits.maxUndecodedAudioBytes) return null;
    this.d.emit({ type: "session.audio_dropped", reason: "backlog", seconds: frameMs / 1000 });
    const now = performance.now();
    if (now - this.backlogNoticeAt < this.d.limits.noticeIntervalMs) return { alive: true };
    this.backlogNoticeAt = now;
    const message = `the server is behind (${stream.lagMs} ms of audio not decoded yet): audio dropped until it catches up`;
    return { alive: true, error: { code: "audio_dropped", message, fatal: false } };
  }

  /**
   * Audio over the learner's rate is dropped; the client is told once (non-fatal rate_limited).
   * A session that goes on to drop more than a quarter of audioBurstMs (5 s by default) is closed
   * (fatal, 4420): what it had committed is kept. Its learner can start a new session once the
   * bucket holds a second of audio again.
   */
  private overRate(frameMs: number): FrameVerdict {
    const l = this.d.limits;
    this.droppedMs += frameMs;
    this.d.emit({ type: "session.audio_dropped", reason: "rate", seconds: frameMs / 1000 });
    if (this.droppedMs > l.audioBurstMs * DROPPED_SHARE_OF_BURST) {
      this.d.emit({ type: "session.rate_limited", what: "audio_closed" });
      this.d.log.warn({ dropped_ms: Math.round(this.droppedMs) }, "audio far faster than real time; closing");
      const message = `audio kept arriving faster than ${l.audioRealtimeRatio}x real time; session closed (what was committed is kept)`;
      return { alive: false, error: { code: "rate_limited", message, fatal: true } };
    }
    if (this.rateNoticeSent) return { alive: false };
    this.rateNoticeSent = true;
    this.d.emit({ type: "session.rate_limited", what: "audio" });
    const message = `audio arrives faster than ${l.audioRealtimeRatio}x real time (burst ${l.audioBurstMs} ms): frames dropped; send at real time or the session is closed`;
    return { alive: false, error: { code: "rate_limited", message, fatal: false } };
  }

  private bytesToMs(bytes: number): number {
    const c = this.d.cfg;
    // Opus is measured decoded; only without a decoder (no ingest configured) does it count as s16.
    const width = c.encoding === "opus" ? BYTES_PER_SAMPLE.pcm_s16le : BYTES_PER_SAMPLE[c.encoding];
    return (bytes / (width * c.channels * c.sample_rate)) * 1000;
  }
}
