// Issue 3, acceptance 1-3: JWT-first auth over a real TLS WebSocket.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { authed, connect, startTestGateway, tempDir } from "../helpers/gateway.js";
import { hsToken, jwksServer, keyPair, signed, unsignedToken } from "../helpers/tokens.js";

async function expectRejected(c: Awaited<ReturnType<typeof authed>>, code: number, errorCode: string) {
  const closed = await c.closed;
  assert.equal(closed.code, code, `close code; messages: ${JSON.stringify(c.messages)}`);
  assert.ok(!c.messages.some((m) => m.type === "ready"), "must never reach ready");
  const err = c.messages.find((m) => m.type === "error");
  assert.ok(err, "an error message precedes the close");
  assert.equal(err.code, errorCode);
  assert.equal(err.fatal, true);
  assert.equal(typeof err.message, "string");
}

describe("shared secret (HS256)", async () => {
  const gw = await startTestGateway({ PARLANCE_JWT_ISSUER: "https://id.example", PARLANCE_JWT_AUDIENCE: "parlance", PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "400" });
  const good = { iss: "https://id.example", aud: "parlance" };

  test("valid token -> ready, then audio is accepted", async () => {
    const c = await authed(gw, await hsToken({ ...good, extra: { level: "B1" } }));
    const ready = await c.next("ready");
    assert.equal(ready.protocol, 1);
    assert.equal(ready.subject, "alice");
    assert.equal(typeof ready.session_id, "string");
    assert.deepEqual(ready.audio, { encoding: "pcm_s16le", sample_rate: 16000, channels: 1 });
    const before = await gw.metrics.bytesIn.get();
    c.ws.send(Buffer.alloc(8000)); // 250 ms of 16 kHz s16le
    c.ws.send(JSON.stringify({ type: "flush" }));
    await new Promise((r) => setTimeout(r, 150));
    const after = await gw.metrics.bytesIn.get();
    const binary = (m: typeof before) => m.values.find((v) => v.labels.kind === "binary")?.value ?? 0;
    assert.equal(binary(after) - binary(before), 8000);
    assert.ok(!c.messages.some((m) => m.type === "error"), JSON.stringify(c.messages));
    c.ws.close();
  });

  test("binary audio before ready closes 4400", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    c.ws.send(Buffer.alloc(3200));
    await expectRejected(c as never, 4400, "protocol_violation");
  });

  const cases: [string, () => Promise<string> | string, number, string][] = [
    ["alg none", () => unsignedToken(good), 4401, "auth_failed"],
    ["expired", () => hsToken({ ...good, exp: -120 }), 4401, "auth_failed"],
    ["nbf in the future", () => hsToken({ ...good, nbf: 3600 }), 4401, "auth_failed"],
    ["wrong iss", () => hsToken({ ...good, iss: "https://evil.example" }), 4401, "auth_failed"],
    ["wrong aud", () => hsToken({ ...good, aud: "other" }), 4401, "auth_failed"],
    ["bad signature", () => hsToken(good, "another-secret-that-is-long-enough-32b!"), 4401, "auth_failed"],
    ["missing sub", () => hsToken({ ...good, sub: null }), 4401, "auth_failed"],
    ["missing exp", () => hsToken({ ...good, exp: null }), 4401, "auth_failed"],
    ["token over 8 KiB", () => hsToken({ ...good, extra: { pad: "x".repeat(9000) } }), 4401, "auth_failed"],
    ["garbage string", () => "not-a-jwt", 4401, "auth_failed"],
  ];
  for (const [name, make, code, errorCode] of cases) {
    test(`rejects: ${name}`, async () => {
      const c = await authed(gw, await make());
      await expectRejected(c, code, errorCode);
    });
  }

  test("rejects: JSON that is not an auth message", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    c.ws.send(JSON.stringify({ type: "hello", token: await hsToken(good) }));
    await expectRejected(c as never, 4400, "protocol_violation");
  });

  test("rejects: non-JSON text first message", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    c.ws.send("{not json");
    await expectRejected(c as never, 4400, "protocol_violation");
  });

  test("rejects: nothing sent within the auth timeout", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    await expectRejected(c as never, 4408, "auth_timeout");
  });

  test("rejects: a second message before the verdict", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    const t = await hsToken(good);
    c.ws.send(JSON.stringify({ type: "auth", token: t }));
    c.ws.send(JSON.stringify({ type: "flush" }));
    await expectRejected(c as never, 4400, "protocol_violation");
  });

  test("rejects: pre-auth frame over 16 KiB", async () => {
    const c = await connect(gw.wsUrl, gw.ca);
    c.ws.send(JSON.stringify({ type: "auth", token: "a".repeat(17 * 1024) }));
    await expectRejected(c as never, 4413, "frame_too_large");
  });

  test("auth failures are counted by reason", async () => {
    const m = await gw.metrics.authFailures.get();
    const reasons = new Set(m.values.map((v) => v.labels.reason));
    for (const r of ["expired", "bad_issuer", "bad_audience", "bad_signature", "too_large", "malformed"]) assert.ok(reasons.has(r), `reason ${r} counted: ${[...reasons]}`);
  });
});

describe("public key (RS256)", async () => {
  const dir = tempDir();
  const rsa = await keyPair("RS256");
  const pub = join(dir, "public.pem");
  writeFileSync(pub, rsa.spki);
  const gw = await startTestGateway({ PARLANCE_JWT_SECRET: "", PARLANCE_JWT_PUBLIC_KEY: pub });

  test("valid RS256 token -> ready", async () => {
    const c = await authed(gw, await signed(rsa.privateKey, "RS256", undefined));
    await c.next("ready");
    c.ws.close();
  });

  test("rejects: HS256 token signed with the RSA public key as the secret (alg confusion)", async () => {
    const c = await authed(gw, await hsToken({}, new TextEncoder().encode(rsa.spki)));
    await expectRejected(c, 4401, "auth_failed");
    const m = await gw.metrics.authFailures.get();
    assert.ok(m.values.some((v) => v.labels.reason === "alg_not_allowed"));
  });

  test("rejects: alg none against a public key", async () => {
    const c = await authed(gw, unsignedToken());
    await expectRejected(c, 4401, "auth_failed");
  });
});

describe("JWKS", async () => {
  const jwks = await jwksServer();
  const k1 = await keyPair("ES256");
  const k2 = await keyPair("ES256");
  jwks.setKeys([{ ...k1.jwk, kid: "k1", alg: "ES256", use: "sig" }]);
  const gw = await startTestGateway({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: jwks.url, PARLANCE_JWT_JWKS_COOLDOWN_MS: "0" });

  test("a token with a known kid -> ready", async () => {
    const c = await authed(gw, await signed(k1.privateKey, "ES256", "k1"));
    await c.next("ready");
    c.ws.close();
  });

  test("rejects: unknown kid (after one refetch)", async () => {
    const before = jwks.fetches;
    const c = await authed(gw, await signed(k2.privateKey, "ES256", "nope"));
    await expectRejected(c, 4401, "auth_failed");
    assert.ok(jwks.fetches > before, "the key set was fetched again for the unknown kid");
    const m = await gw.metrics.authFailures.get();
    assert.ok(m.values.some((v) => v.labels.reason === "unknown_kid"));
  });

  test("rotation: a token with the new kid is accepted", async () => {
    jwks.setKeys([{ ...k2.jwk, kid: "k2", alg: "ES256", use: "sig" }]);
    const c = await authed(gw, await signed(k2.privateKey, "ES256", "k2"));
    const ready = await c.next("ready");
    assert.equal(ready.subject, "alice");
    c.ws.close();
  });

  test("rejects: JWKS server down (fails closed)", async () => {
    const down = await jwksServer();
    down.setKeys([{ ...k1.jwk, kid: "k1", alg: "ES256" }]);
    const gw2 = await startTestGateway({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: down.url, PARLANCE_JWT_JWKS_TIMEOUT_MS: "1000" });
    await down.stop();
    const c = await authed(gw2, await signed(k1.privateKey, "ES256", "k1"));
    await expectRejected(c, 4401, "auth_failed");
    const m = await gw2.metrics.authFailures.get();
    assert.ok(m.values.some((v) => v.labels.reason === "jwks_unavailable"), JSON.stringify(m.values));
  });
});
