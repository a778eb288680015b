// Issue 12: a JWKS endpoint that answers 400 MB (or declares it, or lists thousands of keys) is
// cut off at jwt.jwksMaxBytes / jwt.jwksMaxKeys. Measured against a real loopback HTTP server
// that streams the response as the gateway reads it: the bytes it managed to send, the gateway's
// memory, and /healthz answering meanwhile.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import { authed, startTestGateway } from "../helpers/gateway.js";
import { keyPair, signed } from "../helpers/tokens.js";
import { send } from "../helpers/request.js";

const HUGE = 400 * 1024 * 1024;

interface Hostile {
  url: string;
  requests: number;
  /** Bytes the server got written to the socket before the client went away. */
  sent: number;
}

/** Streams `{"keys":[<jwk>,<jwk>,...` up to 400 MB, honouring back-pressure, until the client hangs up. */
async function hugeJwksServer(jwk: object, opts: { declareLength?: boolean } = {}): Promise<Hostile> {
  const state: Hostile = { url: "", requests: 0, sent: 0 };
  const unit = Buffer.from(JSON.stringify(jwk) + ",");
  const chunk = Buffer.concat(Array.from({ length: Math.ceil(65536 / unit.length) }, () => unit));
  const server: Server = createServer((_req, res: ServerResponse) => {
    state.requests++;
    res.writeHead(200, { "content-type": "application/json", ...(opts.declareLength ? { "content-length": String(HUGE) } : {}) });
    let closed = false;
    res.on("close", () => (closed = true));
    const head = Buffer.from('{"keys":[');
    res.write(head);
    state.sent += head.length;
    let left = HUGE - head.length;
    const pump = () => {
      while (!closed && left > 0) {
        const n = Math.min(chunk.length, left);
        left -= n;
        state.sent += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once("drain", pump);
      }
      if (!closed) res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return state;
}

async function jwksServer(body: string) {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, get requests() { return requests; } };
}

describe("JWKS caps", async () => {
  const kp = await keyPair("RS256");
  const kid = "k1";
  const jwk = { ...kp.jwk, kid, alg: "RS256", use: "sig" };
  const token = await signed(kp.privateKey, "RS256", kid);
  const jwksEnv = (url: string, extra: Record<string, string> = {}) => ({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: url, PARLANCE_JWT_JWKS_COOLDOWN_MS: "0", ...extra });

  async function attack(hostile: Hostile) {
    const gw = await startTestGateway(jwksEnv(hostile.url));
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
    // Five learners authenticate while the key set is hostile; /healthz is asked throughout.
    const sessions = Promise.all(Array.from({ length: 5 }, async () => {
      const c = await authed(gw, token);
      return c.closed.then((closed) => ({ closed, messages: c.messages }));
    }));
    const health: number[] = [];
    let done = false;
    const probing = (async () => {
      while (!done) {
        health.push((await send(`${gw.url}/healthz`, { ca: gw.ca })).status);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const results = await sessions;
    done = true;
    await probing;
    clearInterval(sampler);
    for (const r of results) {
      assert.equal(r.closed.code, 4401, JSON.stringify(r.messages));
      assert.ok(!r.messages.some((m) => m.type === "ready"));
    }
    const after = await send(`${gw.url}/healthz`, { ca: gw.ca });
    assert.equal(after.status, 200);
    assert.ok(health.length >= 1 && health.every((s) => s === 200), `healthz during the attack: ${health}`);
    const failures = await gw.metrics.authFailures.get();
    assert.ok(failures.values.some((v) => v.labels.reason === "jwks_unavailable" && v.value >= 5), JSON.stringify(failures.values));
    return { growthMb: (peakRss - rssBefore) / 2 ** 20 };
  }

  test("a 400 MB streamed key set is aborted near jwt.jwksMaxBytes (256 KiB): bytes sent, memory bounded, /healthz answers", { timeout: 60_000 }, async (t) => {
    const hostile = await hugeJwksServer(jwk);
    const { growthMb } = await attack(hostile);
    t.diagnostic(`server sent ${(hostile.sent / 2 ** 20).toFixed(2)} MB in ${hostile.requests} request(s); RSS peak growth ${growthMb.toFixed(1)} MB`);
    // What the server got into the socket before the gateway hung up: the cap plus loopback socket buffers, not 400 MB.
    assert.ok(hostile.sent < 32 * 2 ** 20, `server sent ${(hostile.sent / 2 ** 20).toFixed(1)} MB of ${HUGE / 2 ** 20} MB`);
    assert.ok(growthMb < 64, `RSS grew ${growthMb.toFixed(1)} MB`);
    assert.ok(hostile.requests >= 1);
  });

  test("a declared Content-Length over the cap is refused before the body is read", { timeout: 60_000 }, async () => {
    const hostile = await hugeJwksServer(jwk, { declareLength: true });
    const { growthMb } = await attack(hostile);
    assert.ok(hostile.sent < 32 * 2 ** 20, `server sent ${(hostile.sent / 2 ** 20).toFixed(1)} MB`);
    assert.ok(growthMb < 64, `RSS grew ${growthMb.toFixed(1)} MB`);
  });

  test("key count: jwt.jwksMaxKeys keys are accepted, one more is refused", async () => {
    const keys = (n: number) => JSON.stringify({ keys: Array.from({ length: n }, (_, i) => ({ ...jwk, kid: i === n - 1 ? kid : `other-${i}` })) });
    const ok = await jwksServer(keys(10));
    const gwOk = await startTestGateway(jwksEnv(ok.url, { PARLANCE_JWT_JWKS_MAX_KEYS: "10" }));
    const good = await authed(gwOk, token);
    await good.next("ready");
    good.ws.close();

    const tooMany = await jwksServer(keys(11));
    const gwBad = await startTestGateway(jwksEnv(tooMany.url, { PARLANCE_JWT_JWKS_MAX_KEYS: "10" }));
    const bad = await authed(gwBad, token);
    assert.equal((await bad.closed).code, 4401);
    assert.ok(tooMany.requests >= 1);
  });

  test("a key set just under the byte cap works (the cap refuses size, not key sets)", async () => {
    const body = JSON.stringify({ keys: [jwk] });
    const srv = await jwksServer(body);
    const gw = await startTestGateway(jwksEnv(srv.url, { PARLANCE_JWT_JWKS_MAX_BYTES: String(Buffer.byteLength(body)) }));
    const c = await authed(gw, token);
    await c.next("ready");
    c.ws.close();
    const gw2 = await startTestGateway(jwksEnv(srv.url, { PARLANCE_JWT_JWKS_MAX_BYTES: String(Buffer.byteLength(body) - 1) }));
    const c2 = await authed(gw2, token);
    assert.equal((await c2.closed).code, 4401);
  });
});
