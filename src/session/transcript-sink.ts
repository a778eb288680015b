// Where a session's transcript goes: the store first, then the client. It owns the session's
// record (created at `ready`, marked ended at the close) and the list of committed segments.
//
// Store-failure policy: a final is never sent that is not stored ("whatever a client has seen as
// final survives a crash"), so a segment write that fails ends the session's transcription. The
// sink reports it as a verdict and the session ends with a fatal `internal_error`, then an
// `ended` built from what was committed (segmentsSoFar), then close 1011; the record is still
// marked ended and the analysis still queued (best effort: the store may be down).
import type { Claims } from "../auth/verifier.js";
import type { StreamConfig, Word } from "../protocol/index.js";
import type { SpeechEvent } from "../stt/types.js";
import type { Repository } from "../store/types.js";
import type { Logger } from "../util/log.js";

type FinalEvent = Extract<SpeechEvent, { type: "final" }>;

export interface CommittedSegment {
  id: number;
  text: string;
  words: Word[];
}

export type CommitVerdict = { ok: true } | { ok: false; err: unknown };

export class TranscriptSink {
  private readonly committed: CommittedSegment[] = [];
  private id: string | null = null;

  constructor(
    private readonly store: Repository | null,
    private readonly log: Logger,
  ) {}

  get segments(): readonly CommittedSegment[] {
    return this.committed;
  }

  /** The last committed segment's id, -1 before the first. */
  get lastSegmentId(): number {
    return this.committed.at(-1)?.id ?? -1;
  }

  /** The whole committed transcript, as the stream's `ended` would give it. */
  get text(): string {
    return this.committed.map((s) => s.text).join(" ").trim();
  }

  /** Creates the session's record; false when the store refused (the session cannot start). */
  async open(id: string, claims: Claims, cfg: StreamConfig): Promise<boolean> {
    this.id = id;
    try {
      await this.store?.createSession({
        id,
        subject: claims.sub,
        config: cfg,
        claims: { level: claims.level, locale: claims.locale, scopes: claims.scopes },
        createdAt: new Date().toISOString(),
      });
      return true;
    } catch (err) {
      this.log.error({ err }, "could not create the session record");
      return false;
    }
  }

  /** Stores one final; only a stored final counts as committed (and may be sent). */
  async commit(ev: FinalEvent): Promise<CommitVerdict> {
    try {
      if (this.store && this.id) {
        await this.store.appendSegment({ sessionId: this.id, segmentId: ev.segmentId, text: ev.text, start: ev.start, end: ev.end, words: ev.words });
      }
    } catch (err) {
      this.log.error({ err, segment: ev.segmentId }, "could not store a final; ending the session");
      return { ok: false, err };
    }
    this.committed.push({ id: ev.segmentId, text: ev.text, words: ev.words });
    return { ok: true };
  }

  /** Marks the record ended; a failure is logged (the transcript already stored is kept). */
  async close(audioMs: number): Promise<void> {
    if (!this.store || !this.id) return;
    try {
      await this.store.updateSession(this.id, { status: "ended", endedAt: new Date().toISOString(), audioMs });
    } catch (err) {
      this.log.error({ err }, "could not mark the session ended");
    }
  }
}
