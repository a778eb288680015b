// REST API over the store, with the same JWT verification as the socket. Owner-only: a session
// of another subject is reported as not found, so ids cannot be probed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { TokenVerifier, Claims } from "../auth/verifier.js";
import { AuthError } from "../auth/errors.js";
import type { Repository, SessionRecord } from "../store/types.js";
import type { MetricsSink } from "../metrics/events.js";
import { Router, sendJson, type Handler } from "./http.js";
import type { Logger } from "../util/log.js";

/** What REST needs of a session that is live on this gateway. */
export interface LiveSession {
  /** Ends the session without keeping anything and tells its client; resolves when it is over. */
  erase(): Promise<void>;
}

export interface RestDeps {
  verifier: TokenVerifier;
  store: Repository;
  metrics: MetricsSink;
  log: Logger;
  /** The live session with this id on this gateway, if any (DELETE ends it before erasing). */
  liveSession?: (id: string) => LiveSession | null;
}

/** Query of GET /v1/sessions. Unknown parameters are refused, so typos surface. */
const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    before: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

function badRequest(res: ServerResponse, message: string): void {
  sendJson(res, 400, { error: "bad_request", message });
}

/** Query parameters, or null (400 sent) when one repeats: a repeated parameter is ambiguous. */
function queryOf(req: IncomingMessage, res: ServerResponse): Record<string, string> | null {
  const raw = (req.url ?? "").split("?")[1] ?? "";
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    if (k in out) {
      badRequest(res, `query parameter ${k} given twice`);
      return null;
    }
    out[k] = v;
  }
  return out;
}

async function authenticate(req: IncomingMessage, res: ServerResponse, deps: RestDeps): Promise<Claims | null> {
  const h = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) {
    sendJson(res, 401, { error: "unauthorized", message: "Authorization: Bearer <token> required" }, { "www-authenticate": 'Bearer realm="parlance"' });
    return null;
  }
  try {
    return await deps.verifier.verify(m[1]!);
  } catch (e) {
    const reason = e instanceof AuthError ? e.reason : "internal";
    deps.metrics.emit({ type: "auth.failure", reason });
    sendJson(res, 401, { error: "unauthorized", message: "authentication failed" }, { "www-authenticate": 'Bearer realm="parlance", error="invalid_token"' });
    return null;
  }
}

const sessionView = (s: SessionRecord) => ({
  id: s.id,
  status: s.status,
  created_at: s.createdAt,
  ended_at: s.endedAt,
  audio_ms: s.audioMs,
  language: s.config.language,
  config: s.config,
});

/**
 * Counts each request by its route pattern (never the concrete path: ids would make a series per
 * session) with the status it ended with, a failure the gateway turned into a 500 included.
 */
function metered(sink: MetricsSink, method: string, route: string, handler: Handler): Handler {
  return (req, res, params) => {
    const started = performance.now();
    res.once("close", () => sink.emit({ type: "rest.request", route, method: req.method ?? method, status: res.statusCode, durationMs: performance.now() - started }));
    return handler(req, res, params);
  };
}

export function addRestRoutes(router: Router, deps: RestDeps): void {
  const route = (method: string, path: string, handler: Handler) => router.add(method, path, metered(deps.metrics, method, path, handler));
  const owned = async (req: IncomingMessage, res: ServerResponse, id: string) => {
    const claims = await authenticate(req, res, deps);
    if (!claims) return null;
    const s = await deps.store.getSession(id);
    if (!s || s.subject !== claims.sub || s.status === "deleted") {
      sendJson(res, 404, { error: "not_found", message: "no such session" });
      return null;
    }
    return s;
  };

  route("GET", "/v1/sessions", async (req, res) => {
    const claims = await authenticate(req, res, deps);
    if (!claims) return;
    const query = queryOf(req, res);
    if (!query) return;
    const parsed = ListQuery.safeParse(query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return badRequest(res, `invalid query: ${issue ? `${issue.path.join(".") || "(query)"}: ${issue.message}` : "bad shape"}`);
    }
    const sessions = await deps.store.listSessions(claims.sub, parsed.data);
    sendJson(res, 200, { sessions: sessions.map(sessionView) });
  });

  route("GET", "/v1/sessions/:id", async (req, res, p) => {
    const s = await owned(req, res, p.id!);
    if (!s) return;
    const segments = await deps.store.getSegments(s.id);
    sendJson(res, 200, {
      session: sessionView(s),
      transcript: { text: segments.map((x) => x.text).join(" ").replace(/\s+/g, " ").trim(), segments: segments.map((x) => ({ segment_id: x.segmentId, text: x.text, start: x.start, end: x.end, words: x.words })) },
    });
  });

  route("GET", "/v1/sessions/:id/report", async (req, res, p) => {
    const s = await owned(req, res, p.id!);
    if (!s) return;
    const found = await deps.store.getReport(s.id);
    if (found) return sendJson(res, 200, { job_id: found.jobId, report: found.report });
    const jobs = await deps.store.listJobs(s.id);
    const open = jobs.find((j) => j.status === "pending" || j.status === "running");
    if (open) return sendJson(res, 202, { status: "pending", job_id: open.id, attempts: open.attempts, retry_at: open.runAfter }, { "retry-after": "5" });
    const failed = jobs.find((j) => j.status === "failed");
    if (failed) return sendJson(res, 500, { status: "failed", job_id: failed.id, message: failed.lastError ?? "analysis failed" });
    sendJson(res, 404, { error: "not_found", message: "no report for this session" });
  });

  route("DELETE", "/v1/sessions/:id", async (req, res, p) => {
    const s = await owned(req, res, p.id!);
    if (!s) return;
    // A live session is ended first (its client is told it was deleted; nothing more is stored),
    // so no final written after the erasure brings part of it back.
    const live = deps.liveSession?.(s.id);
    if (live) await live.erase();
    await deps.store.deleteSession(s.id);
    deps.log.info({ session: s.id }, "session erased on request");
    res.writeHead(204).end();
  });
}
