// The in-process analysis queue: jobs live in the store (so they survive a crash and any process
// sharing the store can claim them); a poller claims due jobs, runs them one at a time by default
// (the LLM shares cores with live transcription), and tells subscribers about reports.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config/index.js";
import type { Analyzer } from "../analysis/types.js";
import type { Report } from "../protocol/report.js";
import type { Repository } from "../store/types.js";
import { noMetrics, type MetricsSink } from "../metrics/events.js";
import { background } from "../util/background.js";
import { settleWithin } from "../util/timeout.js";
import type { Logger } from "../util/log.js";
import type { AnalysisQueue, EnqueueRequest, QueueEntry } from "./types.js";
import { recoverInterruptedSessions } from "./recovery.js";
import { processJob } from "./process.js";
import { ReportListeners, type ReportListener } from "./listeners.js";

/**
 * No Redis: jobs run in this process from the store. At start-up every `streaming` session was
 * this process's own (one gateway per store), so they are recovered at once.
 */
export const localQueue: QueueEntry = {
  async start(deps) {
    const queue = new LocalAnalysisQueue(deps);
    await queue.start();
    await recoverInterruptedSessions(deps.repo, queue, deps.log);
    return { queue, stop: (graceMs) => queue.close(graceMs) };
  },
};

export class LocalAnalysisQueue implements AnalysisQueue {
  readonly workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 6)}`;
  private readonly listeners: ReportListeners;
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private active = new Set<Promise<void>>();
  private polling = false;
  private readonly metrics: MetricsSink;

  constructor(
    private readonly deps: { repo: Repository; analyzer: Analyzer | null; config: Config; log: Logger; metrics?: MetricsSink },
  ) {
    this.listeners = new ReportListeners(deps.log);
    this.metrics = deps.metrics ?? noMetrics;
  }

  /** Crash recovery: jobs a dead process left running go back to pending, then polling starts. */
  async start(): Promise<void> {
    const n = await this.deps.repo.requeueRunningJobs();
    const waiting = await this.deps.repo.resumeWaitingJobs();
    if (n + waiting > 0) this.deps.log.info({ interrupted: n, waiting }, "resuming analysis jobs left by the previous process");
    this.schedule(0);
  }

  async enqueue(req: EnqueueRequest): Promise<string> {
    const job = await this.deps.repo.createJob({ id: randomUUID(), ...req });
    this.metrics.emit({ type: "job.enqueued", scope: req.scope });
    this.schedule(0);
    return job.id;
  }

  subscribe(sessionId: string, onReport: ReportListener): () => void {
    return this.listeners.add(sessionId, onReport);
  }

  /** Delivers a report produced elsewhere (e.g. a worker process) to this process's sessions. */
  publish(sessionId: string, jobId: string, report: Report): void {
    this.listeners.deliver(sessionId, jobId, report);
  }

  private schedule(ms: number) {
    if (this.closed || !this.deps.analyzer) return;
    if (this.timer) {
      if (ms > 0) return; // an earlier wake-up is already set
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      background(this.poll(), "analysis queue poll", this.deps.log, this.metrics);
    }, ms);
    this.timer.unref();
  }

  private async poll() {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const { repo, config } = this.deps;
      this.metrics.emit({ type: "job.queue_depth", pending: await repo.countJobs("pending") });
      const free = config.analysis.concurrency - this.running;
      if (free > 0) {
        const jobs = await repo.claimDueJobs(this.workerId, free);
        for (const job of jobs) {
          this.running++;
          const p = this.run(job).finally(() => {
            this.running--;
            this.active.delete(p);
            this.schedule(0);
          });
          this.active.add(p);
        }
      }
    } catch (err) {
      this.deps.log.error({ err }, "analysis queue poll failed");
    } finally {
      this.polling = false;
      this.schedule(this.deps.config.queue.pollMs);
    }
  }

  private async run(job: Parameters<typeof processJob>[0]) {
    const { repo, analyzer, config, log } = this.deps;
    const onProvisional = (r: Report) => this.publish(job.sessionId, job.id, r);
    const outcome = await processJob(job, { repo, analyzer: analyzer!, config, log, metrics: this.metrics, onProvisional }).catch((err: unknown) => {
      log.error({ err, job: job.id }, "analysis job crashed");
      return null;
    });
    if (outcome?.kind === "done") this.publish(job.sessionId, job.id, outcome.report);
    else if (outcome?.kind === "retry" && outcome.provisional && job.attempts === 1) this.publish(job.sessionId, job.id, outcome.provisional);
  }

  /** Stops claiming; waits for running analyses up to `graceMs` (unfinished ones resume on restart). */
  async close(graceMs = 0): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.active.size && graceMs > 0) await settleWithin(Promise.allSettled([...this.active]), graceMs);
    // Analyses still running past the grace period go back to pending now rather than at the next
    // start: another process on a shared store can take them at once.
    if (this.active.size > 0) {
      const n = await this.deps.repo.requeueRunningJobs(this.workerId).catch(() => 0);
      if (n > 0) this.deps.log.info({ jobs: n }, "unfinished analyses returned to the queue");
    }
  }
}
