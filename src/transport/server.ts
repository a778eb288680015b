// The gateway: one port serving HTTPS (health, metrics, page, REST) and wss (/v1/stream), with
// connection caps enforced before the WebSocket upgrade so floods cost as little as possible.
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { WebSocketServer } from "ws";
import type { Config } from "../config/index.js";
import type { TokenVerifier } from "../auth/verifier.js";
import { STREAM_PATH } from "../protocol/codes.js";
import { Session, type AudioIngestFactory } from "../session/session.js";
import type { SttService } from "../stt/types.js";
import type { Repository } from "../store/types.js";
import type { AnalysisQueue } from "../jobs/types.js";
import type { Logger } from "../util/log.js";
import { Metrics, metricsHandler, startMetricsListener } from "./metrics.js";
import { clientAddressResolver } from "./client-address.js";
import { devTokenHandler } from "./dev-token.js";
import { Router, sendJson, serveStatic } from "./http.js";
import { addRestRoutes } from "./rest.js";
import { CertificateReloader, fingerprint, readTlsOptions } from "./tls.js";
import { ParlanceWebSocket } from "./ws-limits.js";

export interface GatewayDeps {
  log: Logger;
  verifier: TokenVerifier;
  metrics?: Metrics;
  stt?: SttService | null;
  audio?: AudioIngestFactory | null;
  store?: Repository | null;
  analysis?: AnalysisQueue | null;
  sttUnavailable?: string | null;
  /** TLS files to serve (resolved by the caller: configured, or the dev certificate). */
  tls?: { cert: string; key: string } | null;
  /** Dev mode only: mints a token for the practice page. */
  devToken?: (() => Promise<string>) | null;
  /** Extra readiness checks (store reachable, models loaded...). */
  ready?: () => Promise<boolean> | boolean;
  webRoot?: string;
}

export interface Gateway {
  url: string;
  wsUrl: string;
  port: number;
  metrics: Metrics;
  /** The separate metrics listener's URL when metrics.port is set. */
  metricsUrl: string | null;
  server: HttpsServer | HttpServer;
  sessions: ReadonlySet<Session>;
  fingerprint: () => string | null;
  reloadCertificate: () => boolean;
  /** Stops accepting, ends every session cleanly (1001), waits up to graceMs, then closes. */
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(config: Config, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.log;
  const metrics = deps.metrics ?? new Metrics();
  const sessions = new Set<Session>();
  const pendingByIp = new Map<string, number>();
  let draining = false;
  metrics.setSendBufferedSource(() => {
    let n = 0;
    for (const s of sessions) n += s.bufferedBytes;
    return n;
  });

  const router = new Router();
  router.add("GET", "/healthz", (_req, res) => sendJson(res, 200, { status: "ok" }));
  router.add("GET", "/readyz", async (_req, res) => {
    const ok = !draining && (deps.ready ? await deps.ready() : true);
    sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : draining ? "draining" : "not_ready" });
  });
  if (config.metrics.port === undefined) router.add("GET", "/metrics", metricsHandler(metrics, config.metrics));
  if (deps.devToken) router.add("GET", "/v1/dev/token", devTokenHandler(deps.devToken, config, log));
  const clientAddress = clientAddressResolver(config.trustedProxies);
  if (deps.store) addRestRoutes(router, { verifier: deps.verifier, store: deps.store, metrics, log });
  const webRoot = deps.webRoot ?? resolve("web");

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (config.tls.cert || !config.behindProxy) res.setHeader("strict-transport-security", "max-age=31536000");
    router
      .handle(req, res)
      .then((handled) => {
        if (handled) return;
        if (existsSync(webRoot) && serveStatic(webRoot, req, res)) return;
        sendJson(res, 404, { error: "not_found", message: "not found" });
      })
      .catch((err: unknown) => {
        log.error({ err, url: req.url }, "request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal_error", message: "internal error" });
        else res.destroy();
      });
  };

  let server: HttpsServer | HttpServer;
  let reloader: CertificateReloader | null = null;
  if (deps.tls) {
    const https = createHttpsServer({ ...readTlsOptions(deps.tls) }, onRequest);
    reloader = new CertificateReloader(https, deps.tls, config.tls.reloadDebounceMs, log);
    reloader.start();
    server = https;
  } else {
    if (!config.behindProxy && !config.dev) throw new Error("refusing to serve plain ws without --behind-proxy");
    server = createHttpServer(onRequest);
  }
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug({ err: err.code ?? err.message }, "client error before request");
    socket.destroy();
  });
  server.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake failed"));

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(config.limits.maxFrameBytes, 16 * 1024),
    WebSocket: ParlanceWebSocket,
    perMessageDeflate: false, // audio does not compress; deflate would only cost CPU and memory
    clientTracking: false,
  });
  wss.on("error", (err) => log.error({ err }, "websocket server error"));

  const refuse = (socket: Duplex, status: number, reason: string) => {
    metrics.rejected.inc({ reason });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => log.debug({ err: err.message }, "upgrade socket error"));
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path !== STREAM_PATH) return refuse(socket, 404, "Not Found");
    if (draining) return refuse(socket, 503, "Service Unavailable");
    const origin = req.headers.origin;
    if (origin && config.allowedOrigins.length > 0 && !config.allowedOrigins.includes(origin)) return refuse(socket, 403, "Forbidden");
    if (sessions.size >= config.limits.maxConnections) return refuse(socket, 503, "Service Unavailable");
    const ip = clientAddress(req);
    const pending = pendingByIp.get(ip) ?? 0;
    if (pending >= config.limits.maxPendingAuthPerIp) return refuse(socket, 429, "Too Many Requests");
    pendingByIp.set(ip, pending + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = (pendingByIp.get(ip) ?? 1) - 1;
      if (n <= 0) pendingByIp.delete(ip);
      else pendingByIp.set(ip, n);
    };
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, ip, {
        config,
        log,
        metrics,
        verifier: deps.verifier,
        stt: deps.stt ?? null,
        audio: deps.audio ?? null,
        store: deps.store ?? null,
        analysis: deps.analysis ?? null,
        sttUnavailable: deps.sttUnavailable ?? null,
        onStarted: release,
        onFinished: (s) => sessions.delete(s),
      });
      sessions.add(session);
      ws.once("close", release);
    });
  });

  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(config.port, config.host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const metricsListener =
    config.metrics.port !== undefined
      ? await startMetricsListener(metrics, config.metrics, log).catch((err: unknown) => {
          reloader?.stop();
          server.close();
          throw err;
        })
      : null;
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const hostForUrl = config.host.includes(":") ? `[${config.host}]` : config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const scheme = deps.tls ? "https" : "http";

  return {
    url: `${scheme}://${hostForUrl}:${port}`,
    wsUrl: `${deps.tls ? "wss" : "ws"}://${hostForUrl}:${port}${STREAM_PATH}`,
    port,
    metrics,
    metricsUrl: metricsListener?.url ?? null,
    server,
    sessions,
    fingerprint: () => (deps.tls ? (reloader?.fingerprint ?? fingerprint(readFileSync(deps.tls.cert, "utf8"))) : null),
    reloadCertificate: () => reloader?.reload("manual") ?? false,
    async close(graceMs = config.shutdownGraceMs) {
      draining = true;
      reloader?.stop();
      server.close();
      const all = [...sessions].map((s) => s.shutdown().catch((err: unknown) => log.error({ err }, "session shutdown failed")));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(all), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      server.closeAllConnections?.();
      wss.close();
      await metricsListener?.close();
    },
  };
}
