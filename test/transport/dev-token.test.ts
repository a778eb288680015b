// Issue 12: GET /v1/dev/token hands a token only to a direct loopback client of a dev server that
// binds loopback. Through a same-host reverse proxy (a real one here, forwarding like nginx) it is
// refused; each token has a subject of its own.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { request as httpsRequest, Agent } from "node:https";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import { decodeJwt } from "jose";
import fc from "fast-check";
import { devSecret, mintDevToken } from "../../src/auth/dev.js";
import { devTokenRefusal } from "../../src/transport/dev-token.js";
import { FORWARDING_HEADERS } from "../../src/transport/client-address.js";
import { startTestGateway, tempDir } from "../helpers/gateway.js";
import { send } from "../helpers/request.js";

async function devGateway() {
  const dataDir = tempDir();
  const secret = devSecret(dataDir);
  return startTestGateway({ PARLANCE_DEV: "1", PARLANCE_JWT_SECRET: secret }, { devToken: () => mintDevToken(secret, { ttlSeconds: 600 }) });
}

/** A plain-HTTP reverse proxy on loopback in front of the gateway; `headers` says what it adds. */
async function sameHostProxy(target: { url: string; ca: string }, headers: (peer: string) => Record<string, string>) {
  const agent = new Agent({ ca: target.ca });
  const server = createServer((req, res) => {
    const up = httpsRequest(
      `${target.url}${req.url}`,
      { method: req.method, agent, headers: { ...req.headers, host: new URL(target.url).host, ...headers(req.socket.remoteAddress ?? "") } },
      (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("dev token endpoint", () => {
  test("a direct loopback client gets a token; each token has its own subject", async () => {
    const gw = await devGateway();
    const a = await send(`${gw.url}/v1/dev/token`, { ca: gw.ca });
    const b = await send(`${gw.url}/v1/dev/token`, { ca: gw.ca });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const subA = decodeJwt(a.body.token).sub;
    const subB = decodeJwt(b.body.token).sub;
    assert.match(String(subA), /^dev-learner-[0-9a-f]{12}$/);
    assert.notEqual(subA, subB);
  });

  test("through a same-host reverse proxy that sets X-Forwarded-For (nginx-style): refused", async () => {
    const gw = await devGateway();
    const proxy = await sameHostProxy(gw, (peer) => ({ "x-forwarded-for": peer, "x-forwarded-proto": "http" }));
    const r = await send(`${proxy}/v1/dev/token`);
    assert.equal(r.status, 403);
    assert.match(r.body.message, /proxy/);
    assert.equal(r.body.token, undefined);
  });

  test("any forwarding header refuses, whatever its value", async () => {
    const gw = await devGateway();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FORWARDING_HEADERS), fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && s.length > 0), async (h, v) => {
        const r = await send(`${gw.url}/v1/dev/token`, { ca: gw.ca, headers: { [h]: v } });
        assert.equal(r.status, 403, `${h}: ${v}`);
      }),
      { seed: 99, numRuns: 60 },
    );
  });

  test("a page of another site that resolves to 127.0.0.1 (DNS rebinding) is refused by its Host", async () => {
    const gw = await devGateway();
    const r = await send(`${gw.url}/v1/dev/token`, { ca: gw.ca, headers: { host: "evil.example.com" } });
    assert.equal(r.status, 403);
    for (const host of ["localhost", "127.0.0.1:8443", "[::1]:8443", "localhost:1"]) {
      assert.equal((await send(`${gw.url}/v1/dev/token`, { ca: gw.ca, headers: { host } })).status, 200, host);
    }
  });

  test("refusal rules: non-loopback bind, non-loopback peer", () => {
    const req = (peer: string, headers: Record<string, string> = { host: "localhost" }) => ({ socket: { remoteAddress: peer }, headers }) as never;
    assert.equal(devTokenRefusal(req("127.0.0.1"), { host: "127.0.0.1" }), null);
    assert.equal(devTokenRefusal(req("::ffff:127.0.0.1"), { host: "::1" }), null);
    assert.match(devTokenRefusal(req("127.0.0.1"), { host: "0.0.0.0" }) ?? "", /loopback address/);
    assert.match(devTokenRefusal(req("192.168.1.20"), { host: "127.0.0.1" }) ?? "", /loopback clients/);
  });
});

