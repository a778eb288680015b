// The analysis-job seam between sessions (which enqueue) and runners (in-process, or BullMQ
// workers on Redis). Jobs are persisted in the store first, so none is lost if a process dies.
import type { Report } from "../protocol/report.js";

export interface EnqueueRequest {
  sessionId: string;
  scope: "session" | "utterance";
  segmentFrom: number | null;
  segmentTo: number | null;
}

export interface AnalysisQueue {
  /** Persists a job and schedules it; resolves with the job id. */
  enqueue(req: EnqueueRequest): Promise<string>;
  /** Calls back with each report of this session as it completes, wherever it ran. */
  subscribe(sessionId: string, onReport: (jobId: string, report: Report) => void): () => void;
  close(): Promise<void>;
}
