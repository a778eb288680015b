// Issue 12: /metrics is not open to the world in production. With metrics.token it needs the
// bearer token; without one, only a direct loopback peer gets it (a same-host proxy's forwarded
// requests are refused); with metrics.port it lives on its own listener and not on the main port.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startTestGateway } from "../helpers/gateway.js";
import { send } from "../helpers/request.js";

describe("/metrics access", () => {
  test("with a token: 401 without it or with a wrong one, 200 with it", async () => {
    const token = randomBytes(32).toString("base64url");
    const gw = await startTestGateway({ PARLANCE_METRICS_TOKEN: token });
    const get = (headers: Record<string, string> = {}) => send(`${gw.url}/metrics`, { ca: gw.ca, headers });
    assert.equal((await get()).status, 401);
    assert.equal((await get({ authorization: `Bearer ${token}x` })).status, 401);
    assert.equal((await get({ authorization: `Bearer ${token.slice(1)}` })).status, 401);
    assert.equal((await get({ authorization: `Basic ${token}` })).status, 401);
    const ok = await get({ authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /parlance_connections/);
  });

  test("without a token: direct loopback peers only; anything a proxy forwarded is refused", async () => {
    const gw = await startTestGateway();
    const direct = await send(`${gw.url}/metrics`, { ca: gw.ca });
    assert.equal(direct.status, 200);
    for (const h of ["x-forwarded-for", "forwarded", "x-real-ip", "via"]) {
      const r = await send(`${gw.url}/metrics`, { ca: gw.ca, headers: { [h]: h === "forwarded" ? "for=203.0.113.7" : "203.0.113.7" } });
      assert.equal(r.status, 403, h);
      assert.match(r.body.message, /PARLANCE_METRICS_TOKEN/);
    }
  });

  test("metrics.port: served on its own listener (with its token), 404 on the main port", async () => {
    const token = randomBytes(32).toString("base64url");
    const gw = await startTestGateway({ PARLANCE_METRICS_PORT: "0", PARLANCE_METRICS_TOKEN: token });
    assert.ok(gw.metricsUrl?.startsWith("http://127.0.0.1:"), String(gw.metricsUrl));
    assert.equal((await send(`${gw.url}/metrics`, { ca: gw.ca, headers: { authorization: `Bearer ${token}` } })).status, 404);
    assert.equal((await send(gw.metricsUrl!)).status, 401);
    const ok = await send(gw.metricsUrl!, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /parlance_connections/);
    assert.equal((await send(gw.metricsUrl!.replace("/metrics", "/healthz"))).status, 404);
  });

  test("metrics.port without a token: whoever reaches the listener (its bind address is the control)", async () => {
    const gw = await startTestGateway({ PARLANCE_METRICS_PORT: "0" });
    const r = await send(gw.metricsUrl!, { headers: { "x-forwarded-for": "203.0.113.7" } });
    assert.equal(r.status, 200);
  });
});
