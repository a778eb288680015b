// The analysis-job seam between sessions (which enqueue) and runners (in-process, or BullMQ
// workers on Redis). Jobs are persisted in the store first, so none is lost if a process dies.
import type { Analyzer } from "../analysis/types.js";
import type { Config } from "../config/index.js";
import type { MetricsSink } from "../metrics/events.js";
import type { Report } from "../protocol/report.js";
import type { Repository } from "../store/types.js";
import type { Logger } from "../util/log.js";

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

export interface QueueDeps {
  repo: Repository;
  /** Null: this process only enqueues (queue.role gateway); the analyses run elsewhere. */
  analyzer: Analyzer | null;
  config: Config;
  log: Logger;
  metrics?: MetricsSink;
}

/** A started queue: what sessions enqueue on, and how this process stops its part of it. */
export interface RunningQueue {
  queue: AnalysisQueue;
  /** Stops taking jobs; running analyses get up to graceMs. Idempotent. */
  stop(graceMs: number): Promise<void>;
}

/** One queue implementation in the registry (jobs/index.ts). */
export interface QueueEntry {
  start(deps: QueueDeps): Promise<RunningQueue>;
}
