// Per-session report listeners, shared by both queues: a session subscribes while its socket is
// open, and a report reaches every listener of its session wherever the job ran.
import type { Report } from "../protocol/report.js";
import type { Logger } from "../util/log.js";

export type ReportListener = (jobId: string, report: Report) => void;

export class ReportListeners {
  private readonly bySession = new Map<string, Set<ReportListener>>();

  constructor(private readonly log: Logger) {}

  /** Returns the unsubscribe function; `onEmpty` runs when the session's last listener leaves. */
  add(sessionId: string, listener: ReportListener, onEmpty?: () => void): () => void {
    let set = this.bySession.get(sessionId);
    if (!set) this.bySession.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size > 0) return;
      this.bySession.delete(sessionId);
      onEmpty?.();
    };
  }

  deliver(sessionId: string, jobId: string, report: Report): void {
    for (const l of this.bySession.get(sessionId) ?? []) {
      try {
        l(jobId, report);
      } catch (err) {
        this.log.error({ err }, "report listener failed");
      }
    }
  }
}
