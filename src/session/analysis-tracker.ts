// A session's analysis jobs: which segments each per-utterance job covers, whether the session
// job is due at the end, which reports on the queue's channel are this session's, and whether
// any job is still running. It queues and filters; sending is the session's.
import type { AnalysisQueue } from "../jobs/types.js";
import type { Report } from "../protocol/report.js";

/** complete: the job's last report; provisional: a pending report, the complete one follows. */
export type ReportVerdict = "not_ours" | "provisional" | "complete";

export class AnalysisTracker {
  private readonly pending = new Set<string>();
  private lastUtteranceSegment = -1;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly queue: AnalysisQueue,
    private readonly sessionId: string,
  ) {}

  /** Reports for this session reach `onReport` until stop(). */
  subscribe(onReport: (jobId: string, report: Report) => void): void {
    this.unsubscribe = this.queue.subscribe(this.sessionId, onReport);
  }

  /** Queues the segments committed since the last utterance job; null when there are none. */
  async queueUtterance(lastSegmentId: number): Promise<string | null> {
    if (lastSegmentId <= this.lastUtteranceSegment) return null;
    const from = this.lastUtteranceSegment + 1;
    this.lastUtteranceSegment = lastSegmentId;
    const jobId = await this.queue.enqueue({ sessionId: this.sessionId, scope: "utterance", segmentFrom: from, segmentTo: lastSegmentId });
    this.pending.add(jobId);
    return jobId;
  }

  /**
   * The session job is due when the client asked for a report, when segments were committed
   * after the last utterance job, or when nothing was (the report then says so).
   */
  sessionJobDue(clientWantsReport: boolean, lastSegmentId: number): boolean {
    return clientWantsReport || lastSegmentId > this.lastUtteranceSegment || lastSegmentId < 0;
  }

  async queueSession(): Promise<string> {
    const jobId = await this.queue.enqueue({ sessionId: this.sessionId, scope: "session", segmentFrom: null, segmentTo: null });
    this.pending.add(jobId);
    return jobId;
  }

  /** Judges a report from the channel; a complete one ends its job. */
  judge(jobId: string, report: Report): ReportVerdict {
    if (!this.pending.has(jobId)) return "not_ours";
    // A provisional report (LLM unreachable, retrying) is followed by the complete one.
    if (report.status === "pending") return "provisional";
    this.pending.delete(jobId);
    return "complete";
  }

  /** No job of this session is still running. */
  get idle(): boolean {
    return this.pending.size === 0;
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.pending.clear();
  }
}
