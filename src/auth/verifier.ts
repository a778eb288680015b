// JWT verification with jose. Algorithms are pinned per key type so that neither `none` nor
// HS/RS confusion can get through; `exp` and `sub` are required; issuer/audience are checked
// when configured; a remote JWKS is cached, refetched on an unknown `kid` (with jose's
// cooldown) and fails closed when unreachable.
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  importJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type CryptoKey,
  type KeyObject,
} from "jose";
import { createPublicKey } from "node:crypto";
import type { Config } from "../config/index.js";
import { MAX_TOKEN_BYTES } from "../protocol/messages.js";
import { AuthError } from "./errors.js";
import { shortClaim, usableSubject, type ClaimLimits } from "./claims.js";
import { Introspector } from "./introspection.js";
import { remoteJwks } from "./jwks.js";
import type { Logger } from "../util/log.js";

export interface Claims {
  sub: string;
  scopes: string[];
  exp: number | null; // seconds since epoch
  level?: string;
  locale?: string;
  issuer?: string;
}

export interface TokenVerifier {
  readonly kind: string;
  verify(token: string): Promise<Claims>;
}

const HMAC = ["HS256", "HS384", "HS512"];
const RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const EC = ["ES256", "ES384", "ES512"];
const OKP = ["EdDSA"];
const ASYMMETRIC = [...RSA, ...EC, ...OKP];

type JwtConfig = Config["jwt"];
type Key = CryptoKey | KeyObject | Uint8Array;

function pin(allowedForKey: string[], configured: string[] | undefined): string[] {
  const algs = configured ? allowedForKey.filter((a) => configured.includes(a)) : allowedForKey;
  if (algs.length === 0) {
    throw new Error(`PARLANCE_JWT_ALGORITHMS (${configured?.join(",")}) allows none of ${allowedForKey.join(",")} for this key`);
  }
  return algs;
}

function algsForKeyType(type: string | undefined): string[] {
  switch (type) {
    case "rsa":
    case "RSA":
    case "rsa-pss":
      return RSA;
    case "ec":
    case "EC":
      return EC;
    case "ed25519":
    case "ed448":
    case "OKP":
      return OKP;
    default:
      throw new Error(`unsupported public key type ${type}`);
  }
}

async function loadPublicKey(file: string, configured?: string[]): Promise<{ key: Key | JWTVerifyGetKey; algorithms: string[] }> {
  const text = readFileSync(file, "utf8").trim();
  if (text.startsWith("{")) {
    const jwk = JSON.parse(text) as JWK | { keys: JWK[] };
    if ("keys" in jwk) {
      const types = new Set(jwk.keys.map((k) => k.kty));
      const algs = [...types].flatMap((t) => algsForKeyType(t));
      return { key: createLocalJWKSet(jwk), algorithms: pin(algs, configured) };
    }
    if (jwk.kty === "oct") throw new Error("PARLANCE_JWT_PUBLIC_KEY holds a symmetric key; use PARLANCE_JWT_SECRET");
    const algorithms = pin(jwk.alg ? [jwk.alg] : algsForKeyType(jwk.kty), configured);
    return { key: (await importJWK(jwk, algorithms[0])) as Key, algorithms };
  }
  const keyObject = createPublicKey(text);
  const algorithms = pin(algsForKeyType(keyObject.asymmetricKeyType), configured);
  // A KeyObject (rather than a CryptoKey bound to one alg) lets jose check each pinned algorithm.
  return { key: keyObject, algorithms };
}

function claimsFrom(payload: JWTPayload, limits: ClaimLimits): Claims {
  const sub = usableSubject(payload.sub, limits);
  if (sub === undefined) throw new AuthError("missing_claim", "token has no usable sub claim");
  const scopeClaim = (payload as { scope?: unknown; scp?: unknown }).scope ?? (payload as { scp?: unknown }).scp;
  const scopes = typeof scopeClaim === "string" ? scopeClaim.split(" ").filter(Boolean) : Array.isArray(scopeClaim) ? scopeClaim.map(String) : [];
  const p = payload as Record<string, unknown>;
  const str = (v: unknown) => shortClaim(v, limits);
  return {
    sub,
    scopes,
    exp: typeof payload.exp === "number" ? payload.exp : null,
    level: str(p.level) ?? str(p.cefr_level) ?? str(p.cefr),
    locale: str(p.locale),
    issuer: payload.iss,
  };
}

function translate(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof joseErrors.JWTExpired) return new AuthError("expired", "token expired");
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "nbf" || e.claim === "iat") return new AuthError("not_yet_valid", `token ${e.claim} is in the future`);
    if (e.claim === "iss") return new AuthError("bad_issuer", "unexpected token issuer");
    if (e.claim === "aud") return new AuthError("bad_audience", "unexpected token audience");
    return new AuthError("missing_claim", `token claim ${e.claim} invalid: ${e.reason}`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError("alg_not_allowed", "token algorithm not allowed");
  if (e instanceof joseErrors.JWKSNoMatchingKey) return new AuthError("unknown_kid", "no key matches the token's kid");
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return new AuthError("unknown_kid", "several keys match the token");
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) return new AuthError("jwks_unavailable", "key set unavailable");
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError("bad_signature", "token signature invalid");
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid || e instanceof joseErrors.JOSENotSupported) {
    return new AuthError("malformed", "token is not a valid JWT");
  }
  if (e instanceof TypeError && !(e.cause && typeof e.cause === "object")) return new AuthError("malformed", "token is not a valid JWT");
  // Network failures while fetching the JWKS surface as plain errors: fail closed.
  return new AuthError("jwks_unavailable", "token could not be verified: key source unavailable");
}

class JwtVerifier implements TokenVerifier {
  constructor(
    readonly kind: string,
    private readonly key: Key | JWTVerifyGetKey,
    private readonly algorithms: string[],
    private readonly cfg: JwtConfig,
    private readonly introspector: Introspector | null,
  ) {}

  async verify(token: string): Promise<Claims> {
    precheck(token);
    let claims: Claims;
    try {
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw new AuthError("malformed", "token is not a valid JWT");
      }
      if (!header.alg || !this.algorithms.includes(header.alg)) throw new AuthError("alg_not_allowed", "token algorithm not allowed");
      const opts = {
        algorithms: this.algorithms,
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        clockTolerance: this.cfg.clockToleranceS,
        requiredClaims: ["exp", "sub"],
      };
      const { payload } =
        typeof this.key === "function" ? await jwtVerify(token, this.key as JWTVerifyGetKey, opts) : await jwtVerify(token, this.key, opts);
      if (typeof payload.iat === "number" && payload.iat > Date.now() / 1000 + this.cfg.clockToleranceS) {
        throw new AuthError("not_yet_valid", "token iat is in the future");
      }
      claims = claimsFrom(payload, this.cfg);
    } catch (e) {
      throw translate(e);
    }
    if (this.introspector) await this.introspector.check(token, claims.sub);
    checkScope(claims, this.cfg);
    return claims;
  }
}

/** Opaque tokens: the product's backend says whether they are active (RFC 7662). */
class IntrospectionOnlyVerifier implements TokenVerifier {
  readonly kind = "introspection";
  constructor(
    private readonly introspector: Introspector,
    private readonly cfg: JwtConfig,
  ) {}
  async verify(token: string): Promise<Claims> {
    precheck(token);
    const claims = await this.introspector.check(token, undefined);
    checkScope(claims, this.cfg);
    return claims;
  }
}

function precheck(token: string) {
  if (Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) throw new AuthError("too_large", "token larger than 8 KiB");
}

function checkScope(claims: Claims, cfg: JwtConfig) {
  if (cfg.requiredScope && !claims.scopes.includes(cfg.requiredScope)) {
    throw new AuthError("insufficient_scope", `token lacks scope ${cfg.requiredScope}`);
  }
}

export async function createVerifier(cfg: JwtConfig, opts: { devSecret?: string; log?: Logger } = {}): Promise<TokenVerifier> {
  const introspector = cfg.introspectionUrl ? new Introspector(cfg, opts.log) : null;
  if (cfg.jwksUrl) {
    return new JwtVerifier("jwks", remoteJwks(cfg, opts.log), pin(ASYMMETRIC, cfg.algorithms), cfg, introspector);
  }
  if (cfg.publicKey) {
    const { key, algorithms } = await loadPublicKey(cfg.publicKey, cfg.algorithms);
    return new JwtVerifier("public_key", key, algorithms, cfg, introspector);
  }
  const secret = cfg.secret ?? opts.devSecret;
  if (secret) {
    if (Buffer.byteLength(secret) < 32) throw new Error("PARLANCE_JWT_SECRET must be at least 32 bytes");
    return new JwtVerifier(cfg.secret ? "secret" : "dev_secret", new TextEncoder().encode(secret), pin(HMAC, cfg.algorithms), cfg, introspector);
  }
  if (introspector) return new IntrospectionOnlyVerifier(introspector, cfg);
  return {
    kind: "none",
    async verify() {
      throw new AuthError("no_verifier", "no token verifier configured");
    },
  };
}
