// One stream's speech events to the store and the client, in order: finals through the transcript
// sink (stored, then sent), utterance ends to the analysis tracker when per-utterance analysis is
// on, the rest mapped to the wire (protocol/speech-events.ts). It stops at the first event it
// cannot commit; leaving the loop abandons the stream (its iterator's return closes it).
import type { ErrorCode } from "../protocol/index.js";
import { lagOf, speechEventToWire, type UnsequencedMessage } from "../protocol/speech-events.js";
import type { SpeechEvent, SpeechStream } from "../stt/types.js";
import type { Logger } from "../util/log.js";
import type { AnalysisTracker } from "./analysis-tracker.js";
import type { TranscriptSink } from "./transcript-sink.js";
import type { EmitMetric } from "./types.js";

type FinalEvent = Extract<SpeechEvent, { type: "final" }>;

export interface PumpHost {
  send(msg: UnsequencedMessage): void;
  notice(code: ErrorCode, message: string): void;
  fail(code: ErrorCode, message: string): void;
  /** Still streaming (a fatal stream error then ends the session; while finishing it is a notice). */
  streaming(): boolean;
  /** Its owner deleted the session: nothing more is stored or sent. */
  erased(): boolean;
}

export interface PumpDeps {
  sink: TranscriptSink;
  /** Set when each utterance end queues an analysis of the segments since the last one. */
  utteranceJobs: AnalysisTracker | null;
  emit: EmitMetric;
  log: Logger;
}

export class SpeechPump {
  private endedSent = false;

  constructor(
    private readonly d: PumpDeps,
    private readonly host: PumpHost,
  ) {}

  /** The stream's `ended` went out (so a failure need not send one of its own). */
  get ended(): boolean {
    return this.endedSent;
  }

  /** Until the stream ends or an event cannot be committed; resolves either way. */
  async run(stream: SpeechStream): Promise<void> {
    try {
      for await (const ev of stream) if (!(await this.onEvent(ev))) return;
    } catch (err) {
      this.d.log.error({ err }, "speech stream failed");
      this.host.fail("internal_error", "transcription failed for this session; what was committed is kept");
    }
  }

  /** False when the session can no longer take events (the transcript could not be committed). */
  private async onEvent(ev: SpeechEvent): Promise<boolean> {
    if (this.host.erased()) return true;
    if ("lagMs" in ev) this.d.emit({ type: "stt.lag", lagMs: lagOf(ev) });
    switch (ev.type) {
      case "error":
        this.d.log.warn({ message: ev.message, fatal: ev.fatal }, "transcription error");
        // Fatal: what was committed is kept and analysed as on any other close (fail -> finish).
        if (ev.fatal && this.host.streaming()) this.host.fail("transcription_failed", ev.message);
        else this.host.notice("transcription_failed", ev.message);
        return true;
      case "final":
        return this.onFinal(ev);
      case "utterance_end":
        this.host.send(speechEventToWire(ev));
        return this.onUtteranceEnd();
      case "ended":
        this.endedSent = true;
        this.host.send(speechEventToWire(ev));
        return true;
      default:
        this.host.send(speechEventToWire(ev));
        return true;
    }
  }

  /** Stored before it is sent: whatever a client has seen as final survives a crash. */
  private async onFinal(ev: FinalEvent): Promise<boolean> {
    const v = await this.d.sink.commit(ev);
    if (!v.ok) {
      this.host.fail("internal_error", "the transcript could not be stored; what was committed is kept");
      return false;
    }
    this.d.emit({ type: "stt.final" });
    this.host.send(speechEventToWire(ev));
    return true;
  }

  private async onUtteranceEnd(): Promise<boolean> {
    const tracker = this.d.utteranceJobs;
    if (!tracker) return true;
    try {
      const jobId = await tracker.queueUtterance(this.d.sink.lastSegmentId);
      if (jobId) this.host.send({ type: "analysis_started", job_id: jobId, scope: "utterance" });
      return true;
    } catch (err) {
      this.d.log.error({ err }, "could not queue the utterance analysis");
      this.host.fail("internal_error", "the analysis could not be queued; what was committed is kept");
      return false;
    }
  }
}
