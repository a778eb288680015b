// The one adapter from metric events to prom-client, on a registry of its own so tests can run
// several servers in one process without clashing on the global registry. The series names are
// operators' dashboards: existing ones never change; new facts get new names.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { escapedCounts } from "../util/escaped.js";
import type { ConnectionState, MetricEvent, MetricsSink, SampledGauge } from "./events.js";

const CONNECTION_STATES: readonly ConnectionState[] = ["awaiting_auth", "streaming", "finishing"];

export class Metrics implements MetricsSink {
  readonly registry = new Registry();
  private readonly sources = new Map<SampledGauge, () => number>();

  private counter(name: string, help: string, labelNames: string[] = []): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
  private sampled(name: string, help: string, source: SampledGauge): Gauge {
    const g: Gauge = new Gauge({ name, help, registers: [this.registry], collect: () => g.set(this.sources.get(source)?.() ?? 0) });
    return g;
  }
  private histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    return new Histogram({ name, help, buckets, labelNames, registers: [this.registry] });
  }

  // Sessions and the listener.
  readonly connections = this.gauge("parlance_connections", "Open WebSocket connections by state", ["state"]);
  readonly sessionsOpened = this.counter("parlance_sessions_opened_total", "WebSocket connections opened (sessions started their handshake)");
  readonly authFailures = this.counter("parlance_auth_failures_total", "Refused authentications by reason", ["reason"]);
  readonly bytesIn = this.counter("parlance_bytes_in_total", "WebSocket payload bytes received", ["kind"]);
  readonly bytesOut = this.counter("parlance_bytes_out_total", "WebSocket payload bytes sent");
  readonly messagesIn = this.counter("parlance_messages_in_total", "Client messages by type", ["type"]);
  readonly messagesOut = this.counter("parlance_messages_out_total", "Server messages by type", ["type"]);
  readonly closes = this.counter("parlance_closes_total", "Connections closed by close code", ["code"]);
  readonly rejected = this.counter("parlance_rejected_upgrades_total", "Upgrades refused before WebSocket (caps, path)", ["reason"]);
  readonly busyRejections = this.counter("parlance_busy_rejections_total", "Sessions refused with busy (admission control)");
  readonly pendingTls = this.gauge("parlance_tls_pending_connections", "TCP connections accepted that have not finished the TLS handshake");
  readonly upgrading = this.gauge("parlance_upgrades_in_progress", "HTTP upgrade requests accepted and not yet a WebSocket");
  readonly pendingAuth = this.sampled("parlance_pending_auth_connections", "Connections counted against the per-IP pending-auth cap (all addresses)", "pending_auth");
  readonly subjectsTracked = this.sampled("parlance_subjects_tracked", "Subjects with per-learner limit state (sessions, audio bucket)", "subjects_tracked");
  readonly sendBuffered = this.sampled(
    "parlance_send_buffered_bytes",
    "Bytes queued in this process for WebSocket clients that read slowly (all connections)",
    "send_buffered_bytes",
  );
  readonly handlerErrors = this.counter(
    "parlance_handler_errors_total",
    "Exceptions caught at a network entry point (a bug; the connection got an error, the process went on)",
    ["where"],
  );
  readonly backgroundFailures = this.counter("parlance_background_failures_total", "Fire-and-forget work that failed (logged), by what it was", ["what"]);
  private readonly escapedSeen = new Map<string, number>();
  readonly escapedErrors: Counter = new Counter({
    name: "parlance_escaped_errors_total",
    help: "Exceptions and rejections that reached the process level (logged; the process keeps serving)",
    labelNames: ["kind"],
    registers: [this.registry],
    // The process guard tallies process-wide (util/escaped.ts); each registry reports the growth.
    collect: (): void => {
      for (const [kind, n] of escapedCounts()) {
        const seen = this.escapedSeen.get(kind) ?? 0;
        if (n > seen) this.escapedErrors.inc({ kind }, n - seen);
        this.escapedSeen.set(kind, n);
      }
    },
  });
  readonly rateLimited = this.counter("parlance_rate_limited_total", "Per-learner limits applied", ["what"]);
  readonly droppedAudio = this.counter("parlance_dropped_audio_seconds_total", "Audio dropped by limits, in seconds", ["reason"]);
  readonly refusedRequests = this.counter("parlance_refused_requests_total", "HTTP requests refused before routing (bad target)", ["status"]);
  readonly slowConsumerCloses = this.counter("parlance_slow_consumer_closes_total", "Connections closed (4429) because the client did not read what it was sent");
  readonly droppedPartials = this.counter("parlance_dropped_partials_total", "Partials not sent because the client reads too slowly");
  readonly badAudioFrames = this.counter("parlance_bad_audio_frames_total", "Audio frames refused by validation", ["code"]);
  readonly restRequests = this.counter("parlance_rest_requests_total", "REST API requests by route pattern, method and status", ["route", "method", "status"]);
  readonly restSeconds = this.histogram("parlance_rest_request_seconds", "REST API request duration by route pattern", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], ["route"]);

  // Speech-to-text.
  readonly lag = this.histogram("parlance_session_lag_seconds", "Audio received but not yet decoded, per transcript event", [0.1, 0.25, 0.5, 1, 2, 4, 8, 16]);
  readonly finals = this.counter("parlance_finals_total", "Committed transcript segments");
  readonly decodeSeconds = this.histogram(
    "parlance_stt_decode_seconds",
    "Speech-to-text decode latency: one engine call, from start to result",
    [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4],
  );
  readonly decodeQueueWait = this.histogram(
    "parlance_stt_queue_wait_seconds",
    "Time a decode waited for a slot on the shared model before it started",
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4],
  );
  readonly decodedAudio = this.counter("parlance_stt_decoded_audio_seconds_total", "Audio read by decodes, in seconds (windows overlap: more than was received)");
  readonly decodeFailures = this.counter("parlance_stt_decode_failures_total", "Decodes that failed, by whether a retry may succeed", ["retryable"]);
  readonly skippedPartials = this.counter("parlance_stt_skipped_partials_total", "Partial updates merged because decoding fell behind");
  readonly loopsCut = this.counter("parlance_stt_loops_cut_total", "Repetition loops cut from hypotheses");
  readonly guardDrops = this.counter("parlance_stt_guard_drops_total", "Segments refused by the hallucination guards, by guard", ["verdict"]);

  // Analysis jobs.
  readonly analysisJobs = this.counter("parlance_analysis_jobs_total", "Analysis job outcomes", ["outcome"]);
  readonly analysisEnqueued = this.counter("parlance_analysis_jobs_enqueued_total", "Analysis jobs enqueued by scope", ["scope"]);
  readonly analysisRetries = this.counter("parlance_analysis_retries_total", "Analysis attempts scheduled again after a failure");
  readonly queueDepth = this.gauge("parlance_analysis_queue_depth", "Analysis jobs waiting (pending)");
  readonly analysisQueueWait = this.histogram(
    "parlance_analysis_queue_wait_seconds",
    "Time an analysis job waited from enqueue (or its retry time) until a runner took it",
    [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
  );
  readonly refusedReportMessages = this.counter("parlance_report_messages_refused_total", "Messages on the Redis report channel that were not report messages");
  readonly analysisSeconds = this.histogram("parlance_analysis_seconds", "Analysis duration", [0.5, 1, 2, 5, 10, 20, 40, 80, 160]);

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "parlance_" });
    for (const s of CONNECTION_STATES) this.connections.set({ state: s }, 0);
    for (const kind of ["uncaughtException", "unhandledRejection"]) this.escapedErrors.inc({ kind }, 0);
  }

  sample(gauge: SampledGauge, read: () => number): void {
    this.sources.set(gauge, read);
  }

  emit(e: MetricEvent): void {
    (this.handlers[e.type] as (e: MetricEvent) => void)(e);
  }

  /** Event type -> the series it moves. A mapped type: an event type without a handler does not compile. */
  private readonly handlers: { [T in MetricEvent["type"]]: (e: Extract<MetricEvent, { type: T }>) => void } = {
    "stt.decode": (e) => {
      this.decodeSeconds.observe(e.decodeMs / 1000);
      this.decodeQueueWait.observe(e.queueWaitMs / 1000);
      this.decodedAudio.inc(e.audioSeconds);
    },
    "stt.decode_failed": (e) => this.decodeFailures.inc({ retryable: String(e.retryable) }),
    "stt.partials_skipped": (e) => this.skippedPartials.inc(e.count),
    "stt.loop_cut": () => this.loopsCut.inc(),
    "stt.guard_drop": (e) => this.guardDrops.inc({ verdict: e.verdict }),
    "stt.lag": (e) => this.lag.observe(e.lagMs / 1000),
    "stt.final": () => this.finals.inc(),
    "session.state": (e) => {
      if (e.from) this.connections.dec({ state: e.from });
      else this.sessionsOpened.inc();
      if (e.to) this.connections.inc({ state: e.to });
    },
    "session.closed": (e) => this.closes.inc({ code: String(e.code) }),
    "session.bytes_in": (e) => this.bytesIn.inc({ kind: e.kind }, e.bytes),
    "session.bytes_out": (e) => this.bytesOut.inc(e.bytes),
    "session.message_in": (e) => this.messagesIn.inc({ type: e.kind }),
    "session.message_out": (e) => this.messagesOut.inc({ type: e.kind }),
    "session.rate_limited": (e) => this.rateLimited.inc({ what: e.what }),
    "session.busy": () => this.busyRejections.inc(),
    "session.audio_dropped": (e) => this.droppedAudio.inc({ reason: e.reason }, e.seconds),
    "session.bad_audio_frame": (e) => this.badAudioFrames.inc({ code: e.code }),
    "session.partial_dropped": () => this.droppedPartials.inc(),
    "session.slow_consumer_closed": () => this.slowConsumerCloses.inc(),
    "auth.failure": (e) => this.authFailures.inc({ reason: e.reason }),
    "transport.upgrade_rejected": (e) => this.rejected.inc({ reason: e.reason }),
    "transport.request_refused": (e) => this.refusedRequests.inc({ status: String(e.status) }),
    "transport.pending_tls": (e) => this.pendingTls.set(e.count),
    "transport.upgrading": (e) => this.upgrading.set(e.count),
    "rest.request": (e) => {
      this.restRequests.inc({ route: e.route, method: e.method, status: String(e.status) });
      this.restSeconds.observe({ route: e.route }, e.durationMs / 1000);
    },
    "job.enqueued": (e) => this.analysisEnqueued.inc({ scope: e.scope }),
    "job.started": (e) => this.analysisQueueWait.observe(e.queueWaitMs / 1000),
    "job.done": (e) => {
      this.analysisJobs.inc({ outcome: e.outcome });
      this.analysisSeconds.observe(e.durationMs / 1000);
    },
    "job.failed": () => this.analysisJobs.inc({ outcome: "failed" }),
    "job.retry_scheduled": () => this.analysisRetries.inc(),
    "job.queue_depth": (e) => this.queueDepth.set(e.pending),
    "job.report_message_refused": () => this.refusedReportMessages.inc(),
    "error.handler": (e) => this.handlerErrors.inc({ where: e.where }),
    "error.background": (e) => this.backgroundFailures.inc({ what: e.what }),
  };
}
