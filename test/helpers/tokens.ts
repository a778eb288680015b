import { SignJWT, generateKeyPair, exportJWK, exportSPKI, type CryptoKey } from "jose";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import { TEST_SECRET } from "./gateway.js";

export interface TokenOpts {
  sub?: string | null;
  exp?: number | null; // seconds from now (negative = past)
  nbf?: number; // seconds from now
  iss?: string;
  aud?: string;
  extra?: Record<string, unknown>;
}

function claims(o: TokenOpts) {
  const now = Math.floor(Date.now() / 1000);
  const c: Record<string, unknown> = { iat: now, ...o.extra };
  if (o.sub !== null) c.sub = o.sub ?? "alice";
  if (o.exp !== null) c.exp = now + (o.exp ?? 600);
  if (o.nbf !== undefined) c.nbf = now + o.nbf;
  if (o.iss) c.iss = o.iss;
  if (o.aud) c.aud = o.aud;
  return c;
}

export function hsToken(o: TokenOpts = {}, secret: string | Uint8Array = TEST_SECRET, alg = "HS256"): Promise<string> {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claims(o)).setProtectedHeader({ alg, typ: "JWT" }).sign(key);
}

export function signed(key: CryptoKey, alg: string, kid: string | undefined, o: TokenOpts = {}): Promise<string> {
  return new SignJWT(claims(o)).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(key);
}

export function unsignedToken(o: TokenOpts = {}): string {
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString("base64url");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims(o))}.`;
}

export async function keyPair(alg: "RS256" | "ES256" = "RS256") {
  const kp = await generateKeyPair(alg, { extractable: true });
  return { ...kp, spki: await exportSPKI(kp.publicKey), jwk: await exportJWK(kp.publicKey) };
}

/** A JWKS endpoint on loopback whose key set a test can rotate, and stop. */
export async function jwksServer() {
  let keys: object[] = [];
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    fetches++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const stop = () => new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
  after(stop);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    setKeys(k: object[]) {
      keys = k;
    },
    get fetches() {
      return fetches;
    },
    stop,
  };
}
