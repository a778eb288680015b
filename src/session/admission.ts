// Whether a verified learner may start a session now, and what it holds while it runs: the
// transcription capacity check, the per-learner session slot and audio credit, and the audio
// decoder for the declared format. Refusals are verdicts; the session sends and closes.
import type { Claims } from "../auth/verifier.js";
import type { ErrorCode, StreamConfig } from "../protocol/index.js";
import type { SttService } from "../stt/types.js";
import type { SubjectLedger } from "../transport/ws-limits.js";
import type { Logger } from "../util/log.js";
import { isAudioError, type AudioIngest, type AudioIngestFactory, type EmitMetric } from "./types.js";

export type AdmissionVerdict =
  | { ok: true; ingest: AudioIngest | null }
  | { ok: false; code: ErrorCode; message: string; retryAfterMs?: number };

export interface AdmissionDeps {
  stt: SttService | null;
  audio: AudioIngestFactory | null;
  sttUnavailable: string | null;
  subjects: SubjectLedger<object> | null;
  limits: { maxSessionsPerSubject: number; audioRealtimeRatio: number };
  emit: EmitMetric;
  log: Logger;
}

export class Admission {
  private held: string | null = null;

  constructor(
    private readonly deps: AdmissionDeps,
    private readonly owner: object,
  ) {}

  /** The subject whose slot this session holds (and whose audio credit it spends), if any. */
  get subject(): string | null {
    return this.held;
  }

  async admit(claims: Claims, cfg: StreamConfig): Promise<AdmissionVerdict> {
    const { stt, sttUnavailable } = this.deps;
    if (sttUnavailable) return { ok: false, code: "stt_unavailable", message: sttUnavailable };
    const subject = this.admitSubject(claims.sub);
    if (subject) return subject;
    const admission = stt ? stt.admit() : ({ ok: true } as const);
    if (!admission.ok) {
      this.deps.emit({ type: "session.busy" });
      this.deps.log.warn({ reason: admission.reason }, "session refused: busy");
      return { ok: false, code: "server_busy", message: `server busy: ${admission.reason}`, retryAfterMs: admission.retryAfterMs };
    }
    return this.openIngest(cfg);
  }

  /** Gives the subject's session slot back (idempotent). */
  release(): void {
    if (!this.held) return;
    this.deps.subjects?.release(this.held, this.owner);
    this.held = null;
  }

  /** Checked and registered in one synchronous step: two sessions verifying at once cannot both pass. */
  private admitSubject(sub: string): AdmissionVerdict | null {
    const { subjects, limits } = this.deps;
    if (!subjects) return null;
    if (!subjects.admit(sub, this.owner)) {
      this.deps.emit({ type: "session.rate_limited", what: "sessions_per_subject" });
      return { ok: false, code: "too_many_sessions", message: `at most ${limits.maxSessionsPerSubject} sessions at once per learner; end one first` };
    }
    this.held = sub;
    // A learner whose audio credit is used up (typically a flooder reconnecting after a 4420)
    // is refused before anything is set up for it: no store row, no stream, no decode.
    const wait = subjects.waitForCredit(sub);
    if (wait === null) return null;
    this.deps.emit({ type: "session.rate_limited", what: "audio_credit" });
    return { ok: false, code: "rate_limited", message: `audio credit used up by audio faster than ${limits.audioRealtimeRatio}x real time; retry in ${wait} ms` };
  }

  private async openIngest(cfg: StreamConfig): Promise<AdmissionVerdict> {
    let ingest: AudioIngest | null = null;
    try {
      ingest = this.deps.audio ? this.deps.audio(cfg) : null;
    } catch (e) {
      return { ok: false, code: isAudioError(e) ? "unsupported_audio" : "protocol_violation", message: e instanceof Error ? e.message : "unsupported audio config" };
    }
    if (!ingest?.ready) return { ok: true, ingest };
    try {
      await ingest.ready;
      return { ok: true, ingest };
    } catch (err) {
      ingest.close?.();
      this.deps.log.error({ err }, "audio decoder could not start");
      return { ok: false, code: "internal_error", message: "audio decoder unavailable" };
    }
  }
}
