// Development key material: a random HS256 secret kept in the data dir (so dev tokens survive a
// restart), token minting for `parlance token`, and key pairs + JWKS for `parlance keys`.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { ensurePrivateDir, restrictFile, writePrivateFile } from "../util/private-files.js";

export function devSecret(dataDir: string): string {
  const file = join(dataDir, "dev-jwt-secret");
  if (existsSync(file)) {
    restrictFile(file);
    return readFileSync(file, "utf8").trim();
  }
  ensurePrivateDir(dataDir);
  const secret = randomBytes(32).toString("base64url");
  writePrivateFile(file, secret + "\n");
  return secret;
}

/**
 * A subject of its own for each dev token, so two people (or two tabs) on a dev server never see
 * each other's sessions over REST.
 */
export function devSubject(): string {
  return `dev-learner-${randomBytes(6).toString("hex")}`;
}

export function parseTtl(ttl: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(ttl.trim());
  if (!m) throw new Error(`bad TTL "${ttl}" (use e.g. 90s, 15m, 1h, 7d)`);
  const n = Number(m[1]);
  return n * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "s") as "s" | "m" | "h" | "d"];
}

export interface MintOptions {
  /** Default: a fresh subject (devSubject()). */
  sub?: string;
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
  claims?: Record<string, unknown>;
}

export async function mintDevToken(secret: string, o: MintOptions): Promise<string> {
  let jwt = new SignJWT({ ...o.claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(o.sub ?? devSubject())
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(Math.floor(Date.now() / 1000) + o.ttlSeconds);
  if (o.issuer) jwt = jwt.setIssuer(o.issuer);
  if (o.audience) jwt = jwt.setAudience(o.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** Writes private.pem, public.pem and jwks.json (public only) for an ES256 or RS256 key pair. */
export async function writeDevKeys(dir: string, alg: "ES256" | "RS256" | "EdDSA" = "ES256"): Promise<{ kid: string; files: string[] }> {
  ensurePrivateDir(dir);
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const files = [join(dir, "private.pem"), join(dir, "public.pem"), join(dir, "jwks.json")];
  writePrivateFile(files[0]!, await exportPKCS8(privateKey));
  writeFileSync(files[1]!, await exportSPKI(publicKey));
  writeFileSync(files[2]!, JSON.stringify({ keys: [jwk] }, null, 2) + "\n");
  return { kid, files };
}
