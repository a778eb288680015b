// Issue 12: introspection answers are cached (bounded, never past exp, at most the TTL setting)
// and concurrent lookups of one token share one POST; unauthenticated REST calls never reach the
// backend. POSTs are counted at a real loopback introspection endpoint.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import fc from "fast-check";
import WebSocket from "ws";
import { loadConfig } from "../../src/config/index.js";
import { createVerifier } from "../../src/auth/verifier.js";
import { Introspector } from "../../src/auth/introspection.js";
import { AuthError } from "../../src/auth/errors.js";
import { SqliteRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";
import { authed, startTestGateway } from "../helpers/gateway.js";
import { hsToken, unsignedToken } from "../helpers/tokens.js";
import { send } from "../helpers/request.js";

const SEED = 777;

/** RFC 7662 endpoint on loopback. Answers after `delayMs`, so concurrent lookups really overlap. */
async function introspectionStub() {
  const state = {
    posts: 0,
    delayMs: 30,
    fail: false,
    oversize: false,
    /** token -> answer; absent = inactive. */
    answers: new Map<string, Record<string, unknown>>(),
    url: "",
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      state.posts++;
      const token = new URLSearchParams(body).get("token") ?? "";
      setTimeout(() => {
        if (state.fail) return res.writeHead(500).end();
        res.writeHead(200, { "content-type": "application/json" });
        if (state.oversize) return res.end(JSON.stringify({ active: true, sub: "x", pad: "p".repeat(200_000) }));
        res.end(JSON.stringify(state.answers.get(token) ?? { active: false }));
      }, state.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
  return state;
}

const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;
const reason = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof AuthError ? e.reason : String(e)));

async function opaqueVerifier(url: string, env: Record<string, string> = {}) {
  const config = loadConfig({ env: { PARLANCE_INTROSPECTION_URL: url, ...env } });
  return createVerifier(config.jwt);
}

describe("cache and coalescing", () => {
  test("200 concurrent verifications of one token: 1 POST", async () => {
    const stub = await introspectionStub();
    stub.answers.set("tok-a", { active: true, sub: "alice", exp: inSeconds(600) });
    const v = await opaqueVerifier(stub.url);
    const claims = await Promise.all(Array.from({ length: 200 }, () => v.verify("tok-a")));
    assert.ok(claims.every((c) => c.sub === "alice"));
    assert.equal(stub.posts, 1);
  });

  test("20,000 reauth-equivalent verifications (flood, then more): 1 POST", async () => {
    const stub = await introspectionStub();
    stub.answers.set("tok-b", { active: true, sub: "bob", exp: inSeconds(600) });
    const v = await opaqueVerifier(stub.url);
    const first = await Promise.all(Array.from({ length: 10_000 }, () => v.verify("tok-b")));
    for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 1000 }, () => v.verify("tok-b")));
    assert.equal(first.length, 10_000);
    assert.equal(stub.posts, 1);
  });

  test("TTL 0 still coalesces: three waves of 100 concurrent lookups = 3 POSTs", async () => {
    const stub = await introspectionStub();
    stub.answers.set("tok-c", { active: true, sub: "carol", exp: inSeconds(600) });
    const v = await opaqueVerifier(stub.url, { PARLANCE_JWT_INTROSPECTION_CACHE_TTL_MS: "0" });
    for (let w = 0; w < 3; w++) await Promise.all(Array.from({ length: 100 }, () => v.verify("tok-c")));
    assert.equal(stub.posts, 3);
  });

  test("an answer is reused for at most the TTL setting", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    stub.answers.set("tok-d", { active: true, sub: "dan", exp: inSeconds(600) });
    const v = await opaqueVerifier(stub.url, { PARLANCE_JWT_INTROSPECTION_CACHE_TTL_MS: "150" });
    await v.verify("tok-d");
    await v.verify("tok-d");
    assert.equal(stub.posts, 1);
    // Revoked meanwhile: after the TTL the backend is asked again and its new answer holds.
    stub.answers.delete("tok-d");
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await reason(v.verify("tok-d")), "inactive");
    assert.equal(stub.posts, 2);
  });

  test("never past the token's exp, even with a long TTL", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    stub.answers.set("tok-e", { active: true, sub: "eve", exp: inSeconds(1) });
    const v = await opaqueVerifier(stub.url, { PARLANCE_JWT_INTROSPECTION_CACHE_TTL_MS: "600000" });
    assert.equal(await reason(v.verify("tok-e")), "ok");
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(await reason(v.verify("tok-e")), "expired");
  });

  test("inactive answers are cached too: 100 tries of a revoked token = 1 POST", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    const v = await opaqueVerifier(stub.url);
    for (let i = 0; i < 100; i++) assert.equal(await reason(v.verify("revoked")), "inactive");
    assert.equal(stub.posts, 1);
  });

  test("a failing backend is not cached (next request asks again) and fails closed", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    stub.fail = true;
    stub.answers.set("tok-f", { active: true, sub: "fay", exp: inSeconds(600) });
    const v = await opaqueVerifier(stub.url);
    assert.equal(await reason(v.verify("tok-f")), "introspection_unavailable");
    stub.fail = false;
    assert.equal(await reason(v.verify("tok-f")), "ok");
    assert.equal(stub.posts, 2);
  });

  test("an oversize introspection response is refused", async () => {
    const stub = await introspectionStub();
    stub.oversize = true;
    const v = await opaqueVerifier(stub.url);
    assert.equal(await reason(v.verify("tok-g")), "introspection_unavailable");
  });

  test("the cache is bounded by jwt.introspectionCacheMaxEntries", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    const config = loadConfig({ env: { PARLANCE_INTROSPECTION_URL: stub.url, PARLANCE_JWT_INTROSPECTION_CACHE_MAX_ENTRIES: "10" } });
    const intro = new Introspector(config.jwt);
    for (let i = 0; i < 50; i++) {
      stub.answers.set(`t${i}`, { active: true, sub: `s${i}`, exp: inSeconds(600) });
      await intro.check(`t${i}`, undefined);
      assert.ok(intro.cacheSize <= 10);
    }
    // The most recently used stay.
    await intro.check("t49", undefined);
    assert.equal(intro.requests, 50);
  });

  test("reauth flood over a real socket (JWT + introspection): POSTs stay at 1", async () => {
    const stub = await introspectionStub();
    stub.delayMs = 0;
    const token = await hsToken({ sub: "alice" });
    stub.answers.set(token, { active: true, sub: "alice", exp: inSeconds(600) });
    const gw = await startTestGateway({ PARLANCE_INTROSPECTION_URL: stub.url });
    const c = await authed(gw, token);
    await c.next("ready");
    for (let i = 0; i < 2000 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send(JSON.stringify({ type: "reauth", token }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stub.posts, 1);
    c.ws.close();
  });
});

describe("unauthenticated REST never reaches the backend", async () => {
  const store = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await store.migrate();
  after(() => store.close());

  test("JWT + introspection: missing, malformed, forged, expired and unsigned tokens cost 0 POSTs", async () => {
    const stub = await introspectionStub();
    const gw = await startTestGateway({ PARLANCE_INTROSPECTION_URL: stub.url }, { store });
    const get = (authorization?: string) => send(`${gw.url}/v1/sessions`, { ca: gw.ca, headers: authorization === undefined ? {} : { authorization } });
    const bad = [
      undefined,
      "",
      "Basic YWxpY2U6cHc=",
      "Bearer",
      "Bearer a b",
      `Bearer ${await hsToken({ sub: "alice" }, "a-different-secret-of-at-least-32-bytes!")}`,
      `Bearer ${await hsToken({ sub: "alice", exp: -3600 })}`,
      `Bearer ${unsignedToken({ sub: "alice" })}`,
      "Bearer not.a.jwt",
    ];
    for (const h of bad) assert.equal((await get(h)).status, 401, String(h));
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.constantFrom("Bearer ", "bearer ", "", "Token "), async (value, scheme) => {
        assert.equal((await get(scheme + value)).status, 401);
      }),
      { seed: SEED, numRuns: 150 },
    );
    assert.equal(stub.posts, 0);

    // Control: the stub is asked once a token passes local verification.
    const good = await hsToken({ sub: "alice" });
    stub.answers.set(good, { active: true, sub: "alice", exp: inSeconds(600) });
    assert.equal((await get(`Bearer ${good}`)).status, 200);
    assert.equal(stub.posts, 1);
  });

  test("opaque tokens: a value that cannot be a bearer token costs 0 POSTs", async () => {
    const stub = await introspectionStub();
    const gw = await startTestGateway({ PARLANCE_JWT_SECRET: "", PARLANCE_INTROSPECTION_URL: stub.url }, { store });
    const notB64Token = fc.string({ minLength: 1, maxLength: 100 }).filter((s) => !/^[A-Za-z0-9\-._~+/]+=*$/.test(s.trim()) && s.trim().length > 0 && !/\s/.test(s.trim()));
    await fc.assert(
      fc.asyncProperty(notB64Token, async (value) => {
        const r = await send(`${gw.url}/v1/sessions`, { ca: gw.ca, headers: { authorization: `Bearer ${value.trim()}` } });
        assert.equal(r.status, 401);
      }),
      { seed: SEED, numRuns: 150 },
    );
    assert.equal(stub.posts, 0);
    stub.answers.set("opaque-good", { active: true, sub: "olga", exp: inSeconds(600) });
    const ok = await send(`${gw.url}/v1/sessions`, { ca: gw.ca, headers: { authorization: "Bearer opaque-good" } });
    assert.equal(ok.status, 200);
    assert.equal(stub.posts, 1);
  });
});

