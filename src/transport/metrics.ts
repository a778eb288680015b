// Serving /metrics: on the gateway's port (loopback or bearer token) or on a listener of its own.
// The series themselves are src/metrics/prometheus.ts.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Metrics } from "../metrics/prometheus.js";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { hasForwardingHeaders, isLoopbackAddress } from "./client-address.js";
import { sendJson } from "./http.js";

export type { ConnectionState } from "../metrics/events.js";
export { Metrics } from "../metrics/prometheus.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Who may read /metrics (it names sessions' states, error rates and the host's memory): with
 * metrics.token, whoever sends `Authorization: Bearer <token>`; without it, only a peer on this
 * machine that came directly (no forwarding headers: a same-host reverse proxy forwards the
 * world). A separate listener (metrics.port) without a token answers whoever reaches it.
 */
export function metricsHandler(metrics: Metrics, cfg: Pick<Config["metrics"], "token">, opts: { openToReachable?: boolean } = {}) {
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
export async function startMetricsListener(metrics: Metrics, cfg: Pick<Config["metrics"], "token" | "host" | "port">, log: Logger): Promise<MetricsListener> {
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
