// Analysis past one machine: gateways enqueue on a BullMQ queue in Redis, `parlance worker`
// processes run the LLM, and reports come back to whichever gateway holds the socket over Redis
// pub/sub. The store stays the source of truth: a job row is written before its BullMQ job, the
// BullMQ job only carries the row's id (and uses it as its own id, so adding it twice is a no-op),
// and workers sweep the store for rows Redis does not hold (flushed, lost, or never added because
// Redis was down), so a job is never lost with Redis.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Queue, Worker, DelayedError, type Job } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/index.js";
import type { Analyzer } from "../analysis/types.js";
import { z } from "zod";
import { Report } from "../protocol/report.js";
import type { JobRecord, Repository } from "../store/types.js";
import { noMetrics, type MetricsSink } from "../metrics/events.js";
import { background } from "../util/background.js";
import { settleWithin, withTimeout } from "../util/timeout.js";
import type { Logger } from "../util/log.js";
import type { AnalysisQueue, EnqueueRequest, QueueEntry } from "./types.js";
import { backoffMs, processJob, type JobOutcome } from "./process.js";
import { recoverInterruptedSessions } from "./recovery.js";
import { ReportListeners, type ReportListener } from "./listeners.js";

export const QUEUE_NAME = "analysis";

interface BullData {
  jobId: string;
  sessionId: string;
}

/** What workers publish on the report channel; gateways parse it (any client of that Redis can publish). */
const ReportMessage = z.object({ sessionId: z.string().min(1), jobId: z.string().min(1), report: Report });
type ReportMessage = z.infer<typeof ReportMessage>;

export const reportChannel = (config: Config) => `${config.queue.prefix}:${QUEUE_NAME}:reports`;

function redisUrl(config: Config): string {
  if (!config.queue.redisUrl) throw new Error("queue.redisUrl (PARLANCE_REDIS_URL) is not set");
  return config.queue.redisUrl;
}

/** host:port of the Redis URL, without credentials, for logs and banners. */
export function redisDisplay(config: Config): string {
  try {
    const u = new URL(redisUrl(config));
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ""}`;
  } catch {
    return "(unparsable PARLANCE_REDIS_URL)";
  }
}

/** Adds the BullMQ job for a store row, due at the row's runAfter. A known id is not added again. */
async function schedule(queue: Queue, job: Pick<JobRecord, "id" | "sessionId" | "runAfter">): Promise<void> {
  const delay = Math.max(0, Date.parse(job.runAfter) - Date.now());
  const data: BullData = { jobId: job.id, sessionId: job.sessionId };
  // Finished BullMQ jobs are removed: the store keeps the history, and a kept job would make a
  // later re-add of the same id (the sweep) a silent no-op.
  await queue.add("analyze", data, { jobId: job.id, delay, removeOnComplete: true, removeOnFail: true });
}

/**
 * Closes a BullMQ queue or worker within `ms`; past that (Redis unreachable, or jobs still
 * running) its connections are cut instead. BullMQ's own close(force) cannot do this once a close
 * is pending: it returns the pending close.
 */
async function closeWithin(c: { close(): Promise<void>; disconnect(): Promise<void> }, ms: number): Promise<void> {
  const closing = c.close();
  closing.catch(() => undefined); // observed: a late failure after the cut is of no interest
  if (!(await settleWithin(closing, ms))) await settleWithin(c.disconnect(), ms);
}

function newQueue(config: Config): Queue {
  return new Queue(QUEUE_NAME, { connection: { url: redisUrl(config) }, prefix: config.queue.prefix });
}

/**
 * Redis (queue.redisUrl): this process enqueues on BullMQ and, with an analyzer (role "all"),
 * also runs a worker. No start-up recovery: with several gateways on one store this one cannot
 * tell its own dead sessions from the others' live ones; workers recover them by age (recovery.ts).
 */
export const redisQueue: QueueEntry = {
  async start(deps) {
    const { analyzer, config, log } = deps;
    const queue = new RedisAnalysisQueue(deps);
    let worker: AnalysisWorker | null = null;
    const stop = async (graceMs: number) => {
      await worker?.close(graceMs);
      await queue.close();
    };
    try {
      await queue.start();
      if (analyzer) {
        worker = new AnalysisWorker({ ...deps, analyzer });
        await worker.start();
      }
    } catch (err) {
      await stop(0).catch(() => undefined);
      throw err;
    }
    log.info({ redis: redisDisplay(config), prefix: config.queue.prefix, role: config.queue.role }, "analysis jobs go through Redis");
    return { queue, stop };
  },
};

/**
 * The gateway side: persists jobs, hands them to Redis, and delivers the reports workers publish
 * to this process's sessions.
 */
export class RedisAnalysisQueue implements AnalysisQueue {
  private readonly queue: Queue;
  private readonly sub: Redis;
  private readonly listeners: ReportListeners;
  /** Jobs queued here whose final report has not arrived: re-read from the store after a pub/sub outage. */
  private readonly outstanding = new Map<string, string>(); // job id -> session id
  private connectedOnce = false;
  private depthTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly metrics: MetricsSink;

  constructor(private readonly deps: { repo: Repository; config: Config; log: Logger; metrics?: MetricsSink }) {
    this.metrics = deps.metrics ?? noMetrics;
    this.listeners = new ReportListeners(deps.log);
    this.queue = newQueue(deps.config);
    this.queue.on("error", (err) => deps.log.warn({ err: err.message }, "redis queue connection error"));
    // The subscriber needs its own connection: a subscribed Redis connection can do nothing else.
    this.sub = new Redis(redisUrl(deps.config), { maxRetriesPerRequest: null, lazyConnect: true });
    this.sub.on("error", (err: Error) => deps.log.warn({ err: err.message }, "redis report subscription error"));
    this.sub.on("message", (_channel: string, text: string) => this.onMessage(text));
    this.sub.on("ready", () => {
      // Reports published while this connection was down are in the store: fetch them. The
      // short wait lets ioredis resubscribe first, so nothing falls between the two.
      if (this.connectedOnce) setTimeout(() => background(this.reconcile(), "report reconcile after a Redis outage", deps.log, this.metrics), 500).unref();
      this.connectedOnce = true;
    });
  }

  async start(): Promise<void> {
    const { config, log, repo } = this.deps;
    try {
      await withTimeout(
        this.sub.connect().then(() => this.sub.subscribe(reportChannel(config))),
        config.queue.connectTimeoutMs,
        "subscribing to reports",
      );
    } catch (err) {
      // Sessions still work and jobs still persist; reports arrive once Redis is back (reconcile).
      log.error({ err: (err as Error).message, redis: redisDisplay(config) }, "Redis unreachable at start-up; analyses wait in the store until it is back");
    }
    if (config.queue.sweepMs > 0) {
      const countDepth = async () => this.metrics.emit({ type: "job.queue_depth", pending: await repo.countJobs("pending") });
      this.depthTimer = setInterval(() => background(countDepth, "analysis queue depth count", log, this.metrics), config.queue.sweepMs);
      this.depthTimer.unref();
    }
  }

  async enqueue(req: EnqueueRequest): Promise<string> {
    const job = await this.deps.repo.createJob({ id: randomUUID(), ...req });
    this.metrics.emit({ type: "job.enqueued", scope: req.scope });
    this.outstanding.set(job.id, job.sessionId);
    try {
      await withTimeout(schedule(this.queue, job), this.deps.config.queue.enqueueTimeoutMs, "adding the job to Redis");
    } catch (err) {
      // The row is stored: a worker's sweep adds it to Redis later, so the learner still gets it.
      this.deps.log.warn({ job: job.id, err: (err as Error).message }, "could not add the analysis job to Redis; the workers' store sweep will");
    }
    return job.id;
  }

  subscribe(sessionId: string, onReport: ReportListener): () => void {
    return this.listeners.add(sessionId, onReport, () => {
      for (const [jobId, sid] of this.outstanding) if (sid === sessionId) this.outstanding.delete(jobId);
    });
  }

  private onMessage(text: string) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const msg = ReportMessage.safeParse(json);
    if (!msg.success) {
      const problem = json === undefined ? "not JSON" : msg.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
      this.deps.log.warn({ problem, bytes: text.length }, "refused a message on the Redis report channel that is not a report message");
      this.metrics.emit({ type: "job.report_message_refused" });
      return;
    }
    this.deliver(msg.data.sessionId, msg.data.jobId, msg.data.report);
  }

  private deliver(sessionId: string, jobId: string, report: Report) {
    if (report.status !== "pending") this.outstanding.delete(jobId);
    this.listeners.deliver(sessionId, jobId, report);
  }

  private async reconcile() {
    const { repo, log } = this.deps;
    for (const [jobId, sessionId] of [...this.outstanding]) {
      try {
        const job = await repo.getJob(jobId);
        if (!job || job.status === "failed") this.outstanding.delete(jobId);
        else if (job.status === "done") {
          const found = (await repo.listReports(sessionId)).find((r) => r.jobId === jobId);
          if (found) this.deliver(sessionId, jobId, found.report);
        }
      } catch (err) {
        log.warn({ err: (err as Error).message, job: jobId }, "could not re-read a report after a Redis outage");
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.depthTimer) clearInterval(this.depthTimer);
    this.sub.disconnect();
    await closeWithin(this.queue, this.deps.config.queue.connectTimeoutMs);
  }
}

/**
 * The worker side (`parlance worker`, or a role "all" gateway with Redis): runs BullMQ jobs
 * through processJob, publishes reports, and sweeps the store for work Redis does not hold.
 */
export class AnalysisWorker {
  readonly workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 6)}`;
  private readonly queue: Queue;
  private readonly pub: Redis;
  private worker: Worker<BullData, string> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private closed = false;
  private readonly metrics: MetricsSink;

  constructor(private readonly deps: { repo: Repository; analyzer: Analyzer; config: Config; log: Logger; metrics?: MetricsSink }) {
    this.metrics = deps.metrics ?? noMetrics;
    this.queue = newQueue(deps.config);
    this.queue.on("error", (err) => deps.log.warn({ err: err.message }, "redis queue connection error"));
    this.pub = new Redis(redisUrl(deps.config), { maxRetriesPerRequest: 3 });
    this.pub.on("error", (err: Error) => deps.log.warn({ err: err.message }, "redis publish connection error"));
  }

  async start(): Promise<void> {
    const { config, log } = this.deps;
    // Before consuming: jobs Redis lost while no worker ran go back on the queue first.
    await this.sweep();
    const worker = new Worker<BullData, string>(QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: { url: redisUrl(config) },
      prefix: config.queue.prefix,
      concurrency: config.analysis.concurrency,
      // A job whose worker died (lock expired) goes back to wait this many times; each return is an
      // attempt in the store too (claimJob), and maxAttempts ends a job that kills its worker.
      maxStalledCount: config.analysis.maxAttempts,
    });
    worker.on("error", (err) => log.warn({ err: err.message }, "redis worker connection error"));
    worker.on("failed", (job, err) => log.warn({ job: job?.id, err: err.message }, "queue job failed; the store sweep retries it"));
    await worker.waitUntilReady();
    this.worker = worker;
    if (config.queue.sweepMs > 0) {
      // sweep() catches its own failures (logged); background() is the backstop for a bug in it.
      this.sweepTimer = setInterval(() => background(this.sweep(), "analysis store sweep", log, this.metrics), config.queue.sweepMs);
      this.sweepTimer.unref();
    }
  }

  private async process(bjob: Job<BullData, string>, token?: string): Promise<string> {
    const { repo, analyzer, config, log } = this.deps;
    const { metrics } = this;
    const job = await repo.claimJob(bjob.data.jobId, this.workerId);
    if (!job) return "skipped"; // done, failed or erased since it was queued
    if (job.attempts > config.analysis.maxAttempts) {
      const error = `no attempt finished after ${job.attempts - 1} tries (did the worker crash?)`;
      await repo.failJob(job.id, error, null);
      log.error({ job: job.id, session: job.sessionId, attempts: job.attempts }, "analysis failed for good: " + error);
      return "failed";
    }
    log.info({ job: job.id, session: job.sessionId, attempt: job.attempts, worker: this.workerId }, "analysis job started");
    let outcome: JobOutcome;
    try {
      const onProvisional = (report: Report) => background(this.publish({ sessionId: job.sessionId, jobId: job.id, report }), "provisional report publish", log, metrics);
      outcome = await processJob(job, { repo, analyzer, config, log, metrics, onProvisional });
    } catch (err) {
      // Not the LLM (processJob handles that) but the store or a bug: retry like an LLM failure.
      const error = err instanceof Error ? err.message : String(err);
      const retry = job.attempts < config.analysis.maxAttempts;
      const runAfter = new Date(Date.now() + backoffMs(job.attempts, config.analysis));
      log.error({ job: job.id, err: error }, "analysis job crashed");
      await repo.failJob(job.id, error, retry ? runAfter : null); // if this throws too, the sweep finds the stale row
      outcome = retry ? { kind: "retry", provisional: null, runAfter, error } : { kind: "failed", error };
    }
    if (outcome.kind === "done") {
      await this.publish({ sessionId: job.sessionId, jobId: job.id, report: outcome.report });
      log.info(
        { job: job.id, session: job.sessionId, worker: this.workerId, model: outcome.report.versions.model, llm_status: outcome.report.llm_status },
        "analysis job done",
      );
      return "done";
    }
    if (outcome.kind === "failed") return "failed";
    // Same rule as the in-process queue: one provisional report, on the first failed attempt.
    if (outcome.provisional && job.attempts === 1) await this.publish({ sessionId: job.sessionId, jobId: job.id, report: outcome.provisional });
    await bjob.moveToDelayed(outcome.runAfter.getTime(), token);
    throw new DelayedError();
  }

  private async publish(msg: ReportMessage): Promise<void> {
    try {
      await this.pub.publish(reportChannel(this.deps.config), JSON.stringify(msg));
    } catch (err) {
      // Stored already; a gateway re-reads outstanding reports when its subscription comes back.
      this.deps.log.warn({ job: msg.jobId, err: (err as Error).message }, "could not publish the report");
    }
  }

  /** Persists and schedules a job (the start-up/sweep recovery of crashed gateways' sessions). */
  async enqueue(req: EnqueueRequest): Promise<string> {
    const job = await this.deps.repo.createJob({ id: randomUUID(), ...req });
    this.metrics.emit({ type: "job.enqueued", scope: req.scope });
    await schedule(this.queue, job).catch((err: unknown) =>
      this.deps.log.warn({ job: job.id, err: (err as Error).message }, "could not add the analysis job to Redis; the next sweep will"),
    );
    return job.id;
  }

  /** One pass of the store sweep; concurrent calls share it. */
  sweep(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { repo, config, log } = this.deps;
    try {
      // A running row whose queue job is gone lost its worker; younger than this it may still be
      // running somewhere while Redis forgot it, so it is left alone a while.
      const staleRunningMs = 2 * config.llm.timeoutMs + 60_000;
      const now = Date.now();
      const pending = await repo.listJobsByStatus("pending");
      const running = (await repo.listJobsByStatus("running")).filter((j) => now - Date.parse(j.updatedAt) > staleRunningMs);
      let added = 0;
      for (const job of [...pending, ...running]) {
        if (this.closed) return;
        if (await this.queue.getJob(job.id)) continue;
        await schedule(this.queue, job);
        added++;
      }
      if (added > 0) log.info({ jobs: added }, "re-queued analysis jobs the store holds but Redis did not");

      // With several gateways none can tell at start-up which `streaming` sessions were its own,
      // but a session older than the longest allowed one is live on no gateway: its gateway died.
      const maxAge = config.limits.maxSessionMs;
      if (maxAge > 0) {
        const createdBefore = new Date(now - maxAge - config.shutdownGraceMs - 60_000);
        await recoverInterruptedSessions(repo, this, log, { createdBefore });
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, "analysis store sweep failed; retrying at the next one");
    }
  }

  /** Stops taking jobs; waits up to graceMs for running ones (the rest are taken over after their lock expires). */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    const w = this.worker;
    // Jobs still running past the grace period keep their rows; their locks expire and another
    // worker takes them over.
    if (w) await closeWithin(w, graceMs);
    await closeWithin(this.queue, this.deps.config.queue.connectTimeoutMs);
    this.pub.disconnect();
  }
}
