// RFC 7662 token introspection against the product's backend. Every answer (active or not) is
// cached by token hash for at most jwt.introspectionCacheTtlMs and never past the token's exp, and
// concurrent lookups of one token share one POST, so a classroom reconnecting, or a client
// sending `reauth` in a loop, costs the backend one request per token per TTL. Backend failures
// are not cached (the next request tries again) and fail closed.
import { createHash } from "node:crypto";
import type { Config } from "../config/index.js";
import { AuthError } from "./errors.js";
import { shortClaim, usableSubject } from "./claims.js";
import { fetchCappedText } from "../util/capped-fetch.js";
import type { Claims } from "./verifier.js";
import type { Logger } from "../util/log.js";

type Outcome = { kind: "active"; claims: Claims } | { kind: "inactive" } | { kind: "expired" };

/**
 * RFC 6750 b64token: what a bearer token can be. Anything else is refused before the backend is
 * asked, so garbage in an Authorization header costs nothing.
 */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function isWellFormedToken(token: string): boolean {
  return B64TOKEN.test(token);
}

export class Introspector {
  private readonly cache = new Map<string, { outcome: Outcome; until: number }>();
  private readonly inflight = new Map<string, Promise<Outcome>>();
  /** POSTs sent to the backend since start (tests and metrics read it). */
  requests = 0;

  constructor(
    private readonly cfg: Config["jwt"],
    private readonly log?: Logger,
  ) {}

  get cacheSize(): number {
    return this.cache.size;
  }

  async check(token: string, expectedSub: string | undefined): Promise<Claims> {
    if (!isWellFormedToken(token)) throw new AuthError("malformed", "token is not a well-formed bearer token");
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.until > Date.now()) {
        // Re-inserting keeps the Map in least-recently-used order for eviction.
        this.cache.delete(key);
        this.cache.set(key, hit);
        return this.apply(hit.outcome, expectedSub);
      }
      this.cache.delete(key);
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.lookup(token, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return this.apply(await pending, expectedSub);
  }

  private async lookup(token: string, key: string): Promise<Outcome> {
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (this.cfg.introspectionClientId) {
      const basic = Buffer.from(`${this.cfg.introspectionClientId}:${this.cfg.introspectionClientSecret ?? ""}`).toString("base64");
      headers.authorization = `Basic ${basic}`;
    }
    let body: Record<string, unknown>;
    try {
      this.requests++;
      const res = await fetchCappedText(
        this.cfg.introspectionUrl!,
        {
          method: "POST",
          headers,
          body: new URLSearchParams({ token, token_type_hint: "access_token" }),
          redirect: "manual",
          signal: AbortSignal.timeout(this.cfg.introspectionTimeoutMs),
        },
        this.cfg.introspectionMaxBytes,
      );
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const parsed: unknown = JSON.parse(res.text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
      body = parsed as Record<string, unknown>;
    } catch (err) {
      // One line per failed POST: coalescing keeps that to one per token at a time.
      this.log?.warn({ err: (err as Error).message }, "token introspection failed; token refused");
      throw new AuthError("introspection_unavailable", "token introspection unavailable");
    }
    const now = Date.now();
    const exp = typeof body.exp === "number" && Number.isFinite(body.exp) ? body.exp : null;
    let outcome: Outcome;
    if (body.active !== true) outcome = { kind: "inactive" };
    else if (exp !== null && exp * 1000 <= now) outcome = { kind: "expired" };
    else {
      const scopes = typeof body.scope === "string" ? body.scope.split(" ").filter(Boolean) : [];
      const sub = usableSubject(body.sub, this.cfg) ?? "";
      outcome = { kind: "active", claims: { sub, scopes, exp, level: shortClaim(body.level, this.cfg) } };
    }
    const ttl = this.cfg.introspectionCacheTtlMs;
    if (ttl > 0) {
      const until = Math.min(now + ttl, outcome.kind === "active" && exp !== null ? exp * 1000 : Infinity);
      if (until > now) {
        while (this.cache.size >= this.cfg.introspectionCacheMaxEntries) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(key, { outcome, until });
      }
    }
    return outcome;
  }

  private apply(outcome: Outcome, expectedSub: string | undefined): Claims {
    if (outcome.kind === "inactive") throw new AuthError("inactive", "token is not active");
    if (outcome.kind === "expired") throw new AuthError("expired", "token expired");
    const claims = outcome.claims;
    if (claims.exp !== null && claims.exp * 1000 <= Date.now()) throw new AuthError("expired", "token expired");
    const sub = claims.sub || expectedSub;
    if (!sub) throw new AuthError("missing_claim", "introspection returned no sub");
    if (expectedSub !== undefined && sub !== expectedSub) throw new AuthError("subject_mismatch", "introspection subject differs from token");
    return sub === claims.sub ? claims : { ...claims, sub };
  }
}
