// REST API over the store, with the same JWT verification as the socket. Owner-only: a session
// of another subject is reported as not found, so ids cannot be probed.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenVerifier, Claims } from "../auth/verifier.js";
import { AuthError } from "../auth/errors.js";
import type { Repository, SessionRecord } from "../store/types.js";
import type { Metrics } from "./metrics.js";
import { Router, sendJson } from "./http.js";
import type { Logger } from "../util/log.js";

export interface RestDeps {
  verifier: TokenVerifier;
  store: Repository;
  metrics: Metrics;
  log: Logger;
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
    deps.metrics.authFailures.inc({ reason });
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

export function addRestRoutes(router: Router, deps: RestDeps): void {
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

  router.add("GET", "/v1/sessions", async (req, res) => {
    const claims = await authenticate(req, res, deps);
    if (!claims) return;
    const url = new URL(req.url ?? "/", "http://x");
    const limit = Math.min(200, Math.max(1, Number(url.searchParams.get("limit") ?? 50) || 50));
    const before = url.searchParams.get("before") ?? undefined;
    const sessions = await deps.store.listSessions(claims.sub, { limit, before });
    sendJson(res, 200, { sessions: sessions.map(sessionView) });
  });

  router.add("GET", "/v1/sessions/:id", async (req, res, p) => {
    const s = await owned(req, res, p.id!);
    if (!s) return;
    const segments = await deps.store.getSegments(s.id);
    sendJson(res, 200, {
      session: sessionView(s),
      transcript: { text: segments.map((x) => x.text).join(" ").replace(/\s+/g, " ").trim(), segments: segments.map((x) => ({ segment_id: x.segmentId, text: x.text, start: x.start, end: x.end, words: x.words })) },
    });
  });

  router.add("GET", "/v1/sessions/:id/report", async (req, res, p) => {
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

  router.add("DELETE", "/v1/sessions/:id", async (req, res, p) => {
    const s = await owned(req, res, p.id!);
    if (!s) return;
    await deps.store.deleteSession(s.id);
    deps.log.info({ session: s.id }, "session erased on request");
    res.writeHead(204).end();
  });
}
