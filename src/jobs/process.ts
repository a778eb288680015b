// Runs one analysis job: load the committed transcript from the store, analyse it, ground the
// cited lessons against the store, and store the report in the same step that completes the job.
// Used by the in-process queue and by `parlance worker`.
import type { Config } from "../config/index.js";
import type { Analyzer, AnalysisInput } from "../analysis/types.js";
import { LlmUnavailableError } from "../analysis/types.js";
import { deterministicReport } from "../analysis/analyzer.js";
import { groundReportResources } from "../curriculum/ground.js";
import type { Report } from "../protocol/report.js";
import type { JobRecord, Repository } from "../store/types.js";
import { noMetrics, type MetricsSink } from "../metrics/events.js";
import type { Logger } from "../util/log.js";

export type JobOutcome =
  | { kind: "done"; report: Report }
  /** LLM unreachable: a provisional report (deterministic parts, status "pending") and a retry time. */
  | { kind: "retry"; provisional: Report | null; runAfter: Date; error: string }
  | { kind: "failed"; error: string };

export function backoffMs(attempt: number, cfg: Config["analysis"], random = Math.random): number {
  const base = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random())); // jitter, so a recovering LLM is not hit all at once
}

export async function loadInput(repo: Repository, job: JobRecord): Promise<AnalysisInput | null> {
  const session = await repo.getSession(job.sessionId);
  if (!session || session.status === "deleted") return null;
  let segments = await repo.getSegments(job.sessionId);
  if (job.scope === "utterance" && job.segmentFrom !== null && job.segmentTo !== null) {
    segments = segments.filter((s) => s.segmentId >= job.segmentFrom! && s.segmentId <= job.segmentTo!);
  }
  const claims = session.claims as { level?: string; locale?: string };
  return {
    sessionId: session.id,
    language: session.config.language,
    words: segments.flatMap((s) => s.words),
    learner: { level: claims.level, locale: claims.locale },
    task: session.config.task,
  };
}

export async function processJob(
  job: JobRecord,
  deps: {
    repo: Repository;
    analyzer: Analyzer;
    config: Config;
    log: Logger;
    metrics?: MetricsSink;
    /** Receives the report's deterministic parts (status "pending") before the LLM runs, on the first attempt. */
    onProvisional?: (report: Report) => void;
  },
): Promise<JobOutcome> {
  const { repo, analyzer, config, log } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const started = Date.now();
  // Due at runAfter (its enqueue, or the retry time a failure set): waiting starts there.
  metrics.emit({ type: "job.started", queueWaitMs: Math.max(0, started - Date.parse(job.runAfter)) });
  const input = await loadInput(repo, job);
  if (!input) {
    await repo.failJob(job.id, "session no longer exists", null);
    return { kind: "failed", error: "session no longer exists" };
  }
  let sentProvisional = false;
  if (deps.onProvisional && job.attempts === 1) {
    const deliver = deps.onProvisional;
    input.onProvisional = (r) => {
      sentProvisional = true;
      deliver(r);
    };
  }
  try {
    const raw = await analyzer.analyze(input);
    const { report, dropped } = await groundReportResources(raw, repo);
    if (dropped.length) log.warn({ job: job.id, dropped }, "dropped resources the store does not hold");
    await repo.completeJob(job.id, report);
    metrics.emit({ type: "job.done", outcome: report.llm_status, durationMs: Date.now() - started });
    return { kind: "done", report };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const retryable = job.attempts < config.analysis.maxAttempts;
    if (!retryable) {
      await repo.failJob(job.id, message, null);
      metrics.emit({ type: "job.failed", durationMs: Date.now() - started });
      log.error({ job: job.id, err: message, attempts: job.attempts }, "analysis failed for good");
      return { kind: "failed", error: message };
    }
    const runAfter = new Date(Date.now() + backoffMs(job.attempts, config.analysis));
    await repo.failJob(job.id, message, runAfter);
    metrics.emit({ type: "job.retry_scheduled" });
    const unavailable = err instanceof LlmUnavailableError;
    log.warn({ job: job.id, err: message, attempts: job.attempts, retry_at: runAfter.toISOString(), unavailable }, "analysis will be retried");
    // The learner still gets what needs no LLM (fluency, vocabulary) while the LLM is away.
    const provisional = unavailable && !sentProvisional ? deterministicReport(input, config, "pending", analyzer.modelName) : null;
    return { kind: "retry", provisional, runAfter, error: message };
  }
}
