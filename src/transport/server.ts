// The gateway: one port serving HTTPS (health, metrics, page, REST) and wss (/v1/stream), with
// connection caps enforced before the WebSocket upgrade so floods cost as little as possible.
//
// Every byte here comes from an anonymous peer. Each entry point (TCP accept, TLS handshake,
// request, upgrade, socket error) catches what it throws and answers that peer alone (an HTTP
// status and a closed socket, as ws's abortHandshake does); request targets are checked before any
// parser that can throw sees them. Every count taken for a socket (pending TLS, upgrades in
// progress, pending auth per IP, sessions) is given back on that socket's close, whatever path it
// took. Limits: docs/security.md, "Network surface: limits".
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import type { Config } from "../config/index.js";
import type { TokenVerifier } from "../auth/verifier.js";
import { STREAM_PATH } from "../protocol/codes.js";
import { Session, type AudioIngestFactory } from "../session/session.js";
import type { SttService } from "../stt/types.js";
import type { Repository } from "../store/types.js";
import type { AnalysisQueue } from "../jobs/types.js";
import type { Logger } from "../util/log.js";
import { settleWithin } from "../util/timeout.js";
import type { MetricsSink } from "../metrics/events.js";
import { Metrics, metricsHandler, startMetricsListener } from "./metrics.js";
import { clientAddressResolver } from "./client-address.js";
import { devTokenHandler } from "./dev-token.js";
import { Router, sendJson, serveStatic } from "./http.js";
import { addRestRoutes } from "./rest.js";
import { CertificateReloader, fingerprint, readTlsOptions } from "./tls.js";
import { ParlanceWebSocket, SubjectLedger } from "./ws-limits.js";

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
  /** The live session with this id on this gateway, if any. */
  liveSession(id: string): Session | null;
  /** Stops accepting, ends every session cleanly (1001), waits up to graceMs, then closes. */
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(config: Config, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.log;
  const metrics = deps.metrics ?? new Metrics();
  const sink: MetricsSink = metrics;
  const sessions = new Set<Session>();
  const state = { draining: false };
  sink.sample("send_buffered_bytes", () => {
    let n = 0;
    for (const s of sessions) n += s.bufferedBytes;
    return n;
  });
  const liveSession = (id: string) => [...sessions].find((s) => s.id === id) ?? null;
  const router = gatewayRouter(config, deps, metrics, liveSession, () => state.draining);
  const { server, reloader } = createServer(config, deps, requestHandler(router, deps.webRoot ?? resolve("web"), config, sink, log));
  const pendingTls = deps.tls ? capPendingTls(server, config, sink, log) : new Map<string, Socket>();
  const refuse = refuser(sink, log, config.limits.refusedUpgradeGraceMs);
  const wss = createWebSocketServer(config, log, refuse);
  const subjects = new SubjectLedger<Session>(config.limits);
  sink.sample("subjects_tracked", () => subjects.size);
  const onUpgrade = upgradeHandler({ config, deps, sink, wss, refuse, sessions, subjects, isDraining: () => state.draining });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      onUpgrade(req, socket, head);
    } catch (err) {
      sink.emit({ type: "error.handler", where: "upgrade" });
      log.error({ err, url: truncate(req.url) }, "upgrade handler failed");
      try {
        refuse(socket, 500, "Internal Server Error");
      } catch {
        socket.destroy();
      }
    }
  });
  const metricsListener = await listen(server, config, metrics, log).catch((err: unknown) => {
    reloader?.stop();
    throw err;
  });
  const close = async (graceMs = config.shutdownGraceMs) => {
    state.draining = true;
    reloader?.stop();
    server.close();
    await settleWithin(Promise.all([...sessions].map((s) => s.shutdown().catch((err: unknown) => log.error({ err }, "session shutdown failed")))), graceMs);
    server.closeAllConnections?.();
    for (const sock of pendingTls.values()) sock.destroy();
    wss.close();
    subjects.clear();
    await metricsListener?.close();
  };
  return { ...gatewayUrls(server, config, deps), metrics, metricsUrl: metricsListener?.url ?? null, server, sessions, close, liveSession, ...certificateControls(deps, reloader) };
}

/** Health, readiness, metrics (unless on their own port), the dev token and REST. */
function gatewayRouter(config: Config, deps: GatewayDeps, metrics: Metrics, liveSession: (id: string) => Session | null, isDraining: () => boolean): Router {
  const router = new Router();
  router.add("GET", "/healthz", (_req, res) => sendJson(res, 200, { status: "ok" }));
  router.add("GET", "/readyz", async (_req, res) => {
    const draining = isDraining();
    const ok = !draining && (deps.ready ? await deps.ready() : true);
    sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : draining ? "draining" : "not_ready" });
  });
  if (config.metrics.port === undefined) router.add("GET", "/metrics", metricsHandler(metrics, config.metrics));
  if (deps.devToken) router.add("GET", "/v1/dev/token", devTokenHandler(deps.devToken, config, deps.log));
  if (deps.store) addRestRoutes(router, { verifier: deps.verifier, store: deps.store, metrics, log: deps.log, liveSession });
  return router;
}

/** Every HTTP request: the target checked before any parser sees it, then the router, then static files. */
function requestHandler(router: Router, webRoot: string, config: Config, metrics: MetricsSink, log: Logger) {
  const requestFailed = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    metrics.emit({ type: "error.handler", where: "request" });
    log.error({ err, method: req.method, url: truncate(req.url) }, "request failed");
    try {
      if (!res.headersSent) sendJson(res, 500, { error: "internal_error", message: "internal error" });
      else res.destroy();
    } catch {
      res.destroy();
    }
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      res.on("error", (err) => log.debug({ err: err.message }, "response error"));
      if (config.tls.cert || !config.behindProxy) res.setHeader("strict-transport-security", "max-age=31536000");
      if (!parseRequestTarget(req.url)) {
        metrics.emit({ type: "transport.request_refused", status: 400 });
        log.info({ method: req.method, url: truncate(req.url), ip: req.socket.remoteAddress }, "request refused: malformed target");
        return sendJson(res, 400, { error: "bad_request", message: "malformed request target" }, { connection: "close" });
      }
      router
        .handle(req, res)
        .then((handled) => {
          if (handled) return;
          if (existsSync(webRoot) && serveStatic(webRoot, req, res)) return;
          sendJson(res, 404, { error: "not_found", message: "not found" });
        })
        .catch((err: unknown) => requestFailed(req, res, err));
    } catch (err) {
      requestFailed(req, res, err);
    }
  };
}

/** HTTPS (or plain HTTP behind a proxy / in dev) with its deadlines and its answers to bad peers. */
function createServer(config: Config, deps: GatewayDeps, onRequest: (req: IncomingMessage, res: ServerResponse) => void) {
  const log = deps.log;
  let server: HttpsServer | HttpServer;
  let reloader: CertificateReloader | null = null;
  if (deps.tls) {
    const https = createHttpsServer({ ...readTlsOptions(deps.tls), handshakeTimeout: config.limits.tlsHandshakeTimeoutMs }, onRequest);
    reloader = new CertificateReloader(https, deps.tls, config.tls.reloadDebounceMs, log);
    reloader.start();
    server = https;
  } else {
    if (!config.behindProxy && !config.dev) throw new Error("refusing to serve plain ws without --behind-proxy");
    server = createHttpServer(onRequest);
  }
  server.headersTimeout = config.limits.httpHeadersTimeoutMs;
  server.requestTimeout = config.limits.httpRequestTimeoutMs;
  // A request the HTTP parser refuses gets its status, as Node's default handler would send.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug({ err: err.code ?? err.message }, "client error before request");
    if (err.code === "ECONNRESET" || !socket.writable) return socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.once("finish", () => socket.destroy());
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  // Node emits this for a failed or timed-out handshake but leaves the socket open: close it here,
  // or the handshake deadline would hold nothing.
  server.on("tlsClientError", (err: NodeJS.ErrnoException, tls: TLSSocket) => {
    log.debug({ err: err.code ?? err.message }, "TLS handshake failed");
    tls.destroy();
  });
  return { server, reloader };
}

/**
 * Connections not through TLS yet: capped, and dropped at the handshake deadline (Node's
 * handshakeTimeout, set in createServer). A raw TCP socket that never speaks TLS costs one slot
 * for at most tlsHandshakeTimeoutMs. The TLSSocket is matched to its TCP socket by the peer's
 * address:port. Returns the sockets still pending (destroyed at close).
 */
function capPendingTls(server: HttpsServer | HttpServer, config: Config, metrics: MetricsSink, log: Logger): Map<string, Socket> {
  const pendingTls = new Map<string, Socket>();
  const tcpKey = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress}|${s.remotePort}`;
  const tlsDone = (key: string, sock?: Socket) => {
    const held = pendingTls.get(key);
    if (!held || (sock && held !== sock)) return;
    pendingTls.delete(key);
    metrics.emit({ type: "transport.pending_tls", count: pendingTls.size });
  };
  server.on("connection", (sock: Socket) => {
    try {
      if (pendingTls.size >= config.limits.maxPendingTls) {
        metrics.emit({ type: "transport.upgrade_rejected", reason: "pending_tls" });
        log.debug({ ip: sock.remoteAddress }, "connection dropped: too many TLS handshakes in progress");
        sock.destroy();
        return;
      }
      const key = tcpKey(sock);
      pendingTls.set(key, sock);
      metrics.emit({ type: "transport.pending_tls", count: pendingTls.size });
      sock.once("close", () => tlsDone(key, sock));
    } catch (err) {
      metrics.emit({ type: "error.handler", where: "connection" });
      log.error({ err }, "connection handler failed");
      sock.destroy();
    }
  });
  server.on("secureConnection", (tls: TLSSocket) => tlsDone(tcpKey(tls)));
  return pendingTls;
}

type Refuse = (socket: Duplex, status: number, reason: string, detail?: Record<string, unknown>) => void;

/** Refuses an upgrade the way ws's abortHandshake does: status line, close, a log line. */
function refuser(metrics: MetricsSink, log: Logger, graceMs: number): Refuse {
  return (socket, status, reason, detail = {}) => {
    metrics.emit({ type: "transport.upgrade_rejected", reason });
    log.info({ status, reason, ...detail }, "upgrade refused");
    if (!socket.writable) return socket.destroy();
    const body = STATUS_CODES[status] ?? "Error";
    // The peer may never read the answer: the socket goes either way, soon.
    const t = setTimeout(() => socket.destroy(), graceMs);
    t.unref();
    socket.once("finish", () => socket.destroy());
    socket.once("close", () => clearTimeout(t));
    socket.end(`HTTP/1.1 ${status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };
}

function createWebSocketServer(config: Config, log: Logger, refuse: Refuse): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.limits.maxFrameBytes, // at least MAX_AUTH_MESSAGE_BYTES: the schema says so
    WebSocket: ParlanceWebSocket,
    perMessageDeflate: false, // audio does not compress; deflate would only cost CPU and memory
    clientTracking: false,
  });
  wss.on("error", (err) => log.error({ err }, "websocket server error"));
  // A handshake ws itself refuses (bad Sec-WebSocket-Key, version, method): same answer and log line as ours.
  wss.on("wsClientError", (err: Error, socket: Duplex, req: IncomingMessage) => {
    refuse(socket, 400, "Bad Request", { ip: req.socket.remoteAddress, why: err.message });
  });
  return wss;
}

interface UpgradeContext {
  config: Config;
  deps: GatewayDeps;
  sink: MetricsSink;
  wss: WebSocketServer;
  refuse: Refuse;
  sessions: Set<Session>;
  subjects: SubjectLedger<Session>;
  isDraining: () => boolean;
}

/** Upgrades to /v1/stream, under the connection caps, each checked before any WebSocket work. */
function upgradeHandler(ctx: UpgradeContext) {
  const { config, refuse, sessions } = ctx;
  const clientAddress = clientAddressResolver(config.trustedProxies);
  const pending = new PendingUpgrades(ctx.sink);
  return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => ctx.deps.log.debug({ err: err.message }, "upgrade socket error"));
    const ip = clientAddress(req);
    const target = parseRequestTarget(req.url);
    if (!target) return refuse(socket, 400, "Bad Request", { ip, url: truncate(req.url) });
    if (target.path !== STREAM_PATH) return refuse(socket, 404, "Not Found", { ip });
    if (ctx.isDraining()) return refuse(socket, 503, "Service Unavailable", { ip, why: "draining" });
    const origin = req.headers.origin;
    if (origin && config.allowedOrigins.length > 0 && !config.allowedOrigins.includes(origin)) return refuse(socket, 403, "Forbidden", { ip });
    if (sessions.size + pending.upgrading >= config.limits.maxConnections) return refuse(socket, 503, "Service Unavailable", { ip, why: "max connections" });
    if (pending.authOf(ip) >= config.limits.maxPendingAuthPerIp) return refuse(socket, 429, "Too Many Requests", { ip });
    const hold = pending.take(ip, socket);
    ctx.wss.handleUpgrade(req, socket, head, (ws) => startSession(ctx, ws, ip, hold));
  };
}

function startSession(ctx: UpgradeContext, ws: WebSocket, ip: string, hold: PendingHold) {
  const { deps } = ctx;
  try {
    hold.upgraded();
    const session = new Session(ws, ip, {
      config: ctx.config,
      log: deps.log,
      metrics: ctx.sink,
      verifier: deps.verifier,
      stt: deps.stt ?? null,
      audio: deps.audio ?? null,
      store: deps.store ?? null,
      analysis: deps.analysis ?? null,
      sttUnavailable: deps.sttUnavailable ?? null,
      subjects: ctx.subjects,
      onStarted: hold.release,
      onFinished: (s) => ctx.sessions.delete(s),
    });
    ctx.sessions.add(session);
    ws.once("close", hold.release);
  } catch (err) {
    ctx.sink.emit({ type: "error.handler", where: "upgrade" });
    deps.log.error({ err }, "session set-up failed");
    ws.terminate();
  }
}

interface PendingHold {
  /** The upgrade is through: no longer counted as in progress. */
  upgraded(): void;
  /** The session is ready or gone: no longer counted as waiting for auth (idempotent). */
  release(): void;
}

/**
 * Upgrades in progress and connections waiting for auth per address. Counted from the accepted
 * upgrade request; given back when the session is ready or when the socket closes, whichever
 * comes first: a handshake ws refuses (bad key, version) closes the socket and so gives it back.
 */
class PendingUpgrades {
  private readonly byIp = new Map<string, number>();
  private inProgress = 0;

  constructor(private readonly metrics: MetricsSink) {
    metrics.sample("pending_auth", () => {
      let n = 0;
      for (const v of this.byIp.values()) n += v;
      return n;
    });
  }

  get upgrading(): number {
    return this.inProgress;
  }

  authOf(ip: string): number {
    return this.byIp.get(ip) ?? 0;
  }

  take(ip: string, socket: Duplex): PendingHold {
    this.byIp.set(ip, this.authOf(ip) + 1);
    this.setUpgrading(+1);
    let counted = true;
    let upgrading = true;
    const hold: PendingHold = {
      upgraded: () => {
        if (!upgrading) return;
        upgrading = false;
        this.setUpgrading(-1);
      },
      release: () => {
        if (!counted) return;
        counted = false;
        const n = this.authOf(ip) - 1;
        if (n <= 0) this.byIp.delete(ip);
        else this.byIp.set(ip, n);
      },
    };
    socket.once("close", () => {
      hold.upgraded();
      hold.release();
    });
    return hold;
  }

  private setUpgrading(delta: number) {
    this.inProgress += delta;
    this.metrics.emit({ type: "transport.upgrading", count: this.inProgress });
  }
}

/** Listens, then starts the separate metrics listener when metrics.port is set. */
async function listen(server: HttpsServer | HttpServer, config: Config, metrics: Metrics, log: Logger) {
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(config.port, config.host, () => {
      server.off("error", fail);
      ok();
    });
  });
  if (config.metrics.port === undefined) return null;
  return startMetricsListener(metrics, config.metrics, log).catch((err: unknown) => {
    server.close();
    throw err;
  });
}

function gatewayUrls(server: HttpsServer | HttpServer, config: Config, deps: GatewayDeps) {
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const hostForUrl = config.host.includes(":") ? `[${config.host}]` : config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  return {
    url: `${deps.tls ? "https" : "http"}://${hostForUrl}:${port}`,
    wsUrl: `${deps.tls ? "wss" : "ws"}://${hostForUrl}:${port}${STREAM_PATH}`,
    port,
  };
}

function certificateControls(deps: GatewayDeps, reloader: CertificateReloader | null) {
  return {
    fingerprint: () => (deps.tls ? (reloader?.fingerprint ?? fingerprint(readFileSync(deps.tls.cert, "utf8"))) : null),
    reloadCertificate: () => reloader?.reload("manual") ?? false,
  };
}

/** Longest request target accepted (the REST API and page need far less; Node caps headers at 16 KiB). */
export const MAX_TARGET_BYTES = 4096;
// origin-form (RFC 9112 §3.2.1): "/" then RFC 3986 pchar, "/" and "?" only. Anything else (spaces,
// brackets, "\\", raw non-ASCII, control bytes) is refused before a URL parser sees it.
const ORIGIN_FORM = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;

export interface RequestTarget {
  path: string;
  /** The raw query string without "?" ("" when absent). */
  query: string;
}

/**
 * Validates a request target before anything that can throw parses it (new URL, decodeURIComponent).
 * Returns null for anything that is not a plain origin-form target with well-formed percent escapes
 * and a path that decodes as UTF-8.
 */
export function parseRequestTarget(raw: string | undefined): RequestTarget | null {
  if (!raw || raw.length > MAX_TARGET_BYTES || !ORIGIN_FORM.test(raw)) return null;
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return null;
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  // "//host/..." is a network-path reference: a URL parser would read an authority from it.
  if (path.startsWith("//")) return null;
  try {
    decodeURIComponent(path);
    new URL(raw, "http://x");
  } catch {
    return null;
  }
  return { path, query: q < 0 ? "" : raw.slice(q + 1) };
}

function truncate(s: string | undefined, n = 200): string | undefined {
  return s && s.length > n ? `${s.slice(0, n)}...` : s;
}
