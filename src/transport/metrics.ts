// Prometheus metrics (prom-client) on a registry of our own, so tests can run several servers in
// one process without clashing on the global registry.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { escapedCounts } from "../util/escaped.js";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { hasForwardingHeaders, isLoopbackAddress } from "./client-address.js";
import { sendJson } from "./http.js";

export type ConnectionState = "awaiting_auth" | "streaming" | "finishing";

export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: "parlance_connections", help: "Open WebSocket connections by state", labelNames: ["state"], registers: [this.registry] });
  readonly authFailures = new Counter({ name: "parlance_auth_failures_total", help: "Refused authentications by reason", labelNames: ["reason"], registers: [this.registry] });
  readonly bytesIn = new Counter({ name: "parlance_bytes_in_total", help: "WebSocket payload bytes received", labelNames: ["kind"], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: "parlance_bytes_out_total", help: "WebSocket payload bytes sent", registers: [this.registry] });
  readonly messagesIn = new Counter({ name: "parlance_messages_in_total", help: "Client messages by type", labelNames: ["type"], registers: [this.registry] });
  readonly messagesOut = new Counter({ name: "parlance_messages_out_total", help: "Server messages by type", labelNames: ["type"], registers: [this.registry] });
  readonly closes = new Counter({ name: "parlance_closes_total", help: "Connections closed by close code", labelNames: ["code"], registers: [this.registry] });
  readonly rejected = new Counter({ name: "parlance_rejected_upgrades_total", help: "Upgrades refused before WebSocket (caps, path)", labelNames: ["reason"], registers: [this.registry] });
  readonly busyRejections = new Counter({ name: "parlance_busy_rejections_total", help: "Sessions refused with busy (admission control)", registers: [this.registry] });
  private bufferedSource: () => number = () => 0;
  private pendingAuthSource: () => number = () => 0;
  readonly pendingTls = new Gauge({
    name: "parlance_tls_pending_connections",
    help: "TCP connections accepted that have not finished the TLS handshake",
    registers: [this.registry],
  });
  readonly upgrading = new Gauge({ name: "parlance_upgrades_in_progress", help: "HTTP upgrade requests accepted and not yet a WebSocket", registers: [this.registry] });
  readonly pendingAuth: Gauge = new Gauge({
    name: "parlance_pending_auth_connections",
    help: "Connections counted against the per-IP pending-auth cap (all addresses)",
    registers: [this.registry],
    collect: (): void => this.pendingAuth.set(this.pendingAuthSource()),
  });
  private subjectsSource: () => number = () => 0;
  readonly subjectsTracked: Gauge = new Gauge({
    name: "parlance_subjects_tracked",
    help: "Subjects with per-learner limit state (sessions, audio bucket)",
    registers: [this.registry],
    collect: (): void => this.subjectsTracked.set(this.subjectsSource()),
  });
  readonly handlerErrors = new Counter({
    name: "parlance_handler_errors_total",
    help: "Exceptions caught at a network entry point (a bug; the connection got an error, the process went on)",
    labelNames: ["where"],
    registers: [this.registry],
  });
  private escapedSeen = new Map<string, number>();
  readonly escapedErrors: Counter = new Counter({
    name: "parlance_escaped_errors_total",
    help: "Exceptions and rejections that reached the process level (logged; the process keeps serving)",
    labelNames: ["kind"],
    registers: [this.registry],
    collect: (): void => {
      for (const [kind, n] of escapedCounts()) {
        const seen = this.escapedSeen.get(kind) ?? 0;
        if (n > seen) this.escapedErrors.inc({ kind }, n - seen);
        this.escapedSeen.set(kind, n);
      }
    },
  });
  readonly rateLimited = new Counter({ name: "parlance_rate_limited_total", help: "Per-learner limits applied", labelNames: ["what"], registers: [this.registry] });
  readonly droppedAudio = new Counter({ name: "parlance_dropped_audio_seconds_total", help: "Audio dropped by limits, in seconds", labelNames: ["reason"], registers: [this.registry] });
  readonly refusedRequests = new Counter({ name: "parlance_refused_requests_total", help: "HTTP requests refused before routing (bad target)", labelNames: ["status"], registers: [this.registry] });
  readonly sendBuffered: Gauge = new Gauge({
    name: "parlance_send_buffered_bytes",
    help: "Bytes queued in this process for WebSocket clients that read slowly (all connections)",
    registers: [this.registry],
    collect: (): void => this.sendBuffered.set(this.bufferedSource()),
  });
  readonly slowConsumerCloses = new Counter({
    name: "parlance_slow_consumer_closes_total",
    help: "Connections closed (4429) because the client did not read what it was sent",
    registers: [this.registry],
  });
  readonly droppedPartials = new Counter({ name: "parlance_dropped_partials_total", help: "Partials not sent because the client reads too slowly", registers: [this.registry] });
  readonly badAudioFrames = new Counter({ name: "parlance_bad_audio_frames_total", help: "Audio frames refused by validation", labelNames: ["code"], registers: [this.registry] });
  readonly lag = new Histogram({
    name: "parlance_session_lag_seconds",
    help: "Audio received but not yet decoded, per transcript event",
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
    registers: [this.registry],
  });
  readonly finals = new Counter({ name: "parlance_finals_total", help: "Committed transcript segments", registers: [this.registry] });
  readonly analysisJobs = new Counter({ name: "parlance_analysis_jobs_total", help: "Analysis job outcomes", labelNames: ["outcome"], registers: [this.registry] });
  readonly analysisRetries = new Counter({ name: "parlance_analysis_retries_total", help: "Analysis attempts scheduled again after a failure", registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: "parlance_analysis_queue_depth", help: "Analysis jobs waiting (pending)", registers: [this.registry] });
  readonly analysisSeconds = new Histogram({
    name: "parlance_analysis_seconds",
    help: "Analysis duration",
    buckets: [0.5, 1, 2, 5, 10, 20, 40, 80, 160],
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "parlance_" });
    for (const s of ["awaiting_auth", "streaming", "finishing"] as const) this.connections.set({ state: s }, 0);
    for (const kind of ["uncaughtException", "unhandledRejection"]) this.escapedErrors.inc({ kind }, 0);
  }

  /** The gateway tells the registry how to sum its connections' unsent bytes at scrape time. */
  setSendBufferedSource(fn: () => number): void {
    this.bufferedSource = fn;
  }

  setSubjectsSource(fn: () => number): void {
    this.subjectsSource = fn;
  }

  setPendingAuthSource(fn: () => number): void {
    this.pendingAuthSource = fn;
  }

  moveConnection(from: ConnectionState | null, to: ConnectionState | null): void {
    if (from) this.connections.dec({ state: from });
    if (to) this.connections.inc({ state: to });
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Who may read /metrics (it names sessions' states, error rates and the host's memory): with
 * metrics.token, whoever sends `Authorization: Bearer <token>`; without it, only a peer on this
 * machine that came directly (no forwarding headers: a same-host reverse proxy forwards the
 * world). A separate listener (metrics.port) without a token answers whoever reaches it.
 */
export function metricsHandler(metrics: Metrics, cfg: Config["metrics"], opts: { openToReachable?: boolean } = {}) {
  const want = cfg.token ? digest(cfg.token) : null;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (want) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      if (!m || !timingSafeEqual(digest(m[1]!), want)) {
        return sendJson(res, 401, { error: "unauthorized", message: "/metrics needs Authorization: Bearer <metrics token>" }, { "www-authenticate": 'Bearer realm="parlance-metrics"' });
      }
    } else if (!opts.openToReachable && (!isLoopbackAddress(req.socket.remoteAddress) || hasForwardingHeaders(req))) {
      return sendJson(res, 403, { error: "forbidden", message: "/metrics answers direct loopback clients only; set PARLANCE_METRICS_TOKEN or PARLANCE_METRICS_PORT" });
    }
    const body = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
    res.end(body);
  };
}

export interface MetricsListener {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** /metrics on its own plain-HTTP host:port (a private interface), nothing else. */
export async function startMetricsListener(metrics: Metrics, cfg: Config["metrics"], log: Logger): Promise<MetricsListener> {
  const handle = metricsHandler(metrics, cfg, { openToReachable: true });
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") return sendJson(res, 404, { error: "not_found", message: "not found" });
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "method_not_allowed", message: "GET only" }, { allow: "GET" });
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "metrics request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal_error", message: "internal error" });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(cfg.port ?? 0, cfg.host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (cfg.port ?? 0);
  const host = cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host;
  log.info({ url: `http://${host}:${port}/metrics`, token: Boolean(cfg.token) }, "metrics listener");
  return {
    url: `http://${host}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
