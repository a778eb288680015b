// The remote key set, fetched by jose (cache, cooldown, refetch on an unknown kid) through a fetch
// of ours that caps the response's bytes while it streams and its number of keys, so a hostile
// or broken JWKS endpoint costs at most jwt.jwksMaxBytes of memory per fetch and the event loop
// keeps serving everyone else. A refused key set fails closed: tokens get jwks_unavailable.
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from "jose";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { fetchCappedText, ResponseTooLarge } from "../util/capped-fetch.js";

export class JwksRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JwksRefused";
  }
}

type JwtConfig = Config["jwt"];

/** The fetch jose calls for the key set. Exported for tests of the caps alone. */
export function cappedJwksFetch(cfg: Pick<JwtConfig, "jwksMaxBytes" | "jwksMaxKeys">, log?: Logger) {
  return async (url: string, init: RequestInit): Promise<Response> => {
    let r: Awaited<ReturnType<typeof fetchCappedText>>;
    try {
      r = await fetchCappedText(url, init, cfg.jwksMaxBytes);
    } catch (e) {
      if (e instanceof ResponseTooLarge) {
        log?.warn({ url, limit: cfg.jwksMaxBytes, declared: e.declared }, "JWKS response refused: larger than jwt.jwksMaxBytes");
        throw new JwksRefused(e.message);
      }
      throw e;
    }
    if (r.status !== 200) return new Response(null, { status: r.status });
    let keys: unknown;
    try {
      keys = (JSON.parse(r.text) as { keys?: unknown } | null)?.keys;
    } catch {
      keys = undefined; // jose reports the parse failure itself
    }
    if (Array.isArray(keys) && keys.length > cfg.jwksMaxKeys) {
      log?.warn({ url, keys: keys.length, limit: cfg.jwksMaxKeys }, "JWKS response refused: more keys than jwt.jwksMaxKeys");
      throw new JwksRefused(`key set has ${keys.length} keys, over the limit of ${cfg.jwksMaxKeys}`);
    }
    return new Response(r.text, { status: 200, headers: { "content-type": "application/json" } });
  };
}

export function remoteJwks(cfg: JwtConfig, log?: Logger): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(cfg.jwksUrl!), {
    cooldownDuration: cfg.jwksCooldownMs,
    cacheMaxAge: cfg.jwksCacheMaxAgeMs,
    timeoutDuration: cfg.jwksTimeoutMs,
    [customFetch]: cappedJwksFetch(cfg, log),
  });
}
