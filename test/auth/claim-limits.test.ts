// Claim bounds are settings (jwt.maxSubjectChars, jwt.maxClaimChars), applied the same to JWTs and
// to introspection answers; the introspection POST has its own timeout (jwt.introspectionTimeoutMs).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { loadConfig } from "../../src/config/index.js";
import { createVerifier } from "../../src/auth/verifier.js";
import { AuthError } from "../../src/auth/errors.js";
import { TEST_SECRET } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";

const reason = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof AuthError ? e.reason : String(e)));

test("a JWT's sub is accepted iff its length is 1..jwt.maxSubjectChars; level kept iff <= jwt.maxClaimChars", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 0, max: 100 }), async (maxSub, subLen, maxClaim, levelLen) => {
      const config = loadConfig({ env: { PARLANCE_JWT_SECRET: TEST_SECRET, PARLANCE_JWT_MAX_SUBJECT_CHARS: String(maxSub), PARLANCE_JWT_MAX_CLAIM_CHARS: String(maxClaim) } });
      const v = await createVerifier(config.jwt);
      const token = await hsToken({ sub: "s".repeat(subLen), extra: { level: "b".repeat(levelLen) } });
      const got = await v.verify(token).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      if (subLen > maxSub) return assert.ok(got instanceof AuthError && got.reason === "missing_claim", String(got));
      if (got instanceof Error) throw got;
      assert.equal(got.sub.length, subLen);
      assert.equal(got.level, levelLen <= maxClaim ? "b".repeat(levelLen) : undefined);
    }),
    { numRuns: 60, seed: 1414 },
  );
});

async function introspection(answer: () => Record<string, unknown>, delayMs: number) {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer())), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
}

const opaque = (url: string, env: Record<string, string>) =>
  createVerifier(loadConfig({ env: { PARLANCE_INTROSPECTION_URL: url, PARLANCE_ALLOW_INSECURE_INTROSPECTION_URL: "1", ...env } }).jwt);

test("an introspected sub over jwt.maxSubjectChars is not used; a level over jwt.maxClaimChars is dropped", async () => {
  const url = await introspection(() => ({ active: true, sub: "x".repeat(20), level: "B2".repeat(5), exp: Math.floor(Date.now() / 1000) + 600 }), 0);
  const short = await opaque(url, { PARLANCE_JWT_MAX_SUBJECT_CHARS: "19", PARLANCE_JWT_MAX_CLAIM_CHARS: "9", PARLANCE_JWT_INTROSPECTION_CACHE_TTL_MS: "0" });
  assert.equal(await reason(short.verify("opaque-token-1")), "missing_claim");
  const roomy = await opaque(url, { PARLANCE_JWT_MAX_SUBJECT_CHARS: "20", PARLANCE_JWT_MAX_CLAIM_CHARS: "10", PARLANCE_JWT_INTROSPECTION_CACHE_TTL_MS: "0" });
  const claims = await roomy.verify("opaque-token-1");
  assert.equal(claims.sub, "x".repeat(20));
  assert.equal(claims.level, "B2".repeat(5));
});

test("jwt.introspectionTimeoutMs, not the JWKS timeout, bounds the introspection POST", async () => {
  const url = await introspection(() => ({ active: true, sub: "alice" }), 400);
  const slow = await opaque(url, { PARLANCE_JWT_INTROSPECTION_TIMEOUT_MS: "50", PARLANCE_JWT_JWKS_TIMEOUT_MS: "60000" });
  assert.equal(await reason(slow.verify("opaque-token-2")), "introspection_unavailable");
  const patient = await opaque(url, { PARLANCE_JWT_INTROSPECTION_TIMEOUT_MS: "60000", PARLANCE_JWT_JWKS_TIMEOUT_MS: "50" });
  assert.equal((await patient.verify("opaque-token-2")).sub, "alice");
});
