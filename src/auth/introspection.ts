// RFC 7662 token introspection against the product's backend. Results are cached until the
// token's expiry so a busy classroom does not hammer the backend; failures fail closed.
import { createHash } from "node:crypto";
import type { Config } from "../config/index.js";
import { AuthError } from "./errors.js";
import type { Claims } from "./verifier.js";

const MAX_CACHE = 10_000;

export class Introspector {
  private readonly cache = new Map<string, { claims: Claims; until: number }>();

  constructor(private readonly cfg: Config["jwt"]) {}

  async check(token: string, expectedSub: string | undefined): Promise<Claims> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return this.match(hit.claims, expectedSub);

    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (this.cfg.introspectionClientId) {
      const basic = Buffer.from(`${this.cfg.introspectionClientId}:${this.cfg.introspectionClientSecret ?? ""}`).toString("base64");
      headers.authorization = `Basic ${basic}`;
    }
    let body: Record<string, unknown>;
    try {
      const res = await fetch(this.cfg.introspectionUrl!, {
        method: "POST",
        headers,
        body: new URLSearchParams({ token, token_type_hint: "access_token" }),
        signal: AbortSignal.timeout(this.cfg.jwksTimeoutMs),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      throw new AuthError("introspection_unavailable", "token introspection unavailable");
    }
    if (body.active !== true) throw new AuthError("inactive", "token is not active");
    const exp = typeof body.exp === "number" ? body.exp : null;
    if (exp !== null && exp * 1000 <= now) throw new AuthError("expired", "token expired");
    const sub = typeof body.sub === "string" ? body.sub : expectedSub;
    if (!sub) throw new AuthError("missing_claim", "introspection returned no sub");
    const scopes = typeof body.scope === "string" ? body.scope.split(" ").filter(Boolean) : [];
    const claims: Claims = { sub, scopes, exp, level: typeof body.level === "string" ? body.level : undefined };
    if (this.cache.size >= MAX_CACHE) this.cache.delete(this.cache.keys().next().value!);
    // Without an expiry the answer is kept briefly, so a revoked token stops working soon.
    this.cache.set(key, { claims, until: exp !== null ? exp * 1000 : now + 60_000 });
    return this.match(claims, expectedSub);
  }

  private match(claims: Claims, expectedSub: string | undefined): Claims {
    if (expectedSub !== undefined && claims.sub !== expectedSub) throw new AuthError("subject_mismatch", "introspection subject differs from token");
    return claims;
  }
}
