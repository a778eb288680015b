// Issue 12, acceptance 5: each unsafe production setting is refused at start-up with a message
// that names it (setting, env name, flag); each explicit override turns its refusal into a
// warning, and only for what it was made for (http:// to loopback, not to the network).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfig, assertProductionReady, ConfigError } from "../../src/config/index.js";
import { spawnServer } from "../helpers/process.js";
import { tempDir } from "../helpers/gateway.js";
import { makeRootAndIntermediate, makeLeaf } from "../helpers/certs.js";

const ROOT = resolve(import.meta.dirname, "../..");
const GOOD_SECRET = randomBytes(32).toString("base64");

/** A production configuration that passes: TLS files named, a strong secret. */
function prod(env: Record<string, string> = {}) {
  return loadConfig({ env: { PARLANCE_TLS_CERT: "/etc/x/cert.pem", PARLANCE_TLS_KEY: "/etc/x/key.pem", PARLANCE_JWT_SECRET: GOOD_SECRET, ...env } });
}

function refusal(env: Record<string, string>): string {
  try {
    assertProductionReady(prod(env));
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail(`accepted: ${JSON.stringify(env)}`);
}

describe("production refuses unsafe settings, naming each", () => {
  test("the baseline passes with no warnings (so every refusal below is caused by its one setting)", () => {
    assert.deepEqual(assertProductionReady(prod()), []);
  });

  test("http:// JWKS URL", () => {
    const m = refusal({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: "http://id.example.com/jwks.json" });
    assert.match(m, /jwt\.jwksUrl \(PARLANCE_JWKS_URL \/ --jwt-jwks-url\)/);
    assert.match(m, /cleartext/);
    assert.match(m, /PARLANCE_ALLOW_INSECURE_JWKS_URL/);
  });

  test("http:// JWKS URL with the override but a non-loopback host", () => {
    const m = refusal({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: "http://10.1.2.3:8080/jwks.json", PARLANCE_ALLOW_INSECURE_JWKS_URL: "1" });
    assert.match(m, /PARLANCE_JWKS_URL/);
    assert.match(m, /only to a loopback host.*not 10\.1\.2\.3/);
  });

  test("http:// JWKS URL with the override to a loopback sidecar: a warning, not a refusal", () => {
    for (const host of ["127.0.0.1:9000", "localhost:9000", "[::1]:9000"]) {
      const w = assertProductionReady(prod({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: `http://${host}/jwks.json`, PARLANCE_ALLOW_INSECURE_JWKS_URL: "1" }));
      assert.equal(w.length, 1, host);
      assert.match(w[0]!, /PARLANCE_JWKS_URL.*plain http/);
    }
  });

  test("non-http(s) JWKS URL", () => {
    assert.match(refusal({ PARLANCE_JWT_SECRET: "", PARLANCE_JWKS_URL: "ftp://id.example.com/jwks.json" }), /PARLANCE_JWKS_URL.*https:\/\//);
  });

  test("http:// introspection URL (the client secret would travel in cleartext)", () => {
    const m = refusal({ PARLANCE_INTROSPECTION_URL: "http://id.example.com/introspect", PARLANCE_INTROSPECTION_CLIENT_ID: "parlance", PARLANCE_INTROSPECTION_CLIENT_SECRET: GOOD_SECRET });
    assert.match(m, /jwt\.introspectionUrl \(PARLANCE_INTROSPECTION_URL/);
    assert.match(m, /PARLANCE_ALLOW_INSECURE_INTROSPECTION_URL/);
    const w = assertProductionReady(prod({ PARLANCE_INTROSPECTION_URL: "http://127.0.0.1:7000/introspect", PARLANCE_ALLOW_INSECURE_INTROSPECTION_URL: "true" }));
    assert.match(w.join("\n"), /PARLANCE_INTROSPECTION_URL/);
    assert.match(refusal({ PARLANCE_INTROSPECTION_URL: "http://idp.internal/introspect", PARLANCE_ALLOW_INSECURE_INTROSPECTION_URL: "1" }), /only to a loopback host/);
  });

  test("the example PARLANCE_JWT_SECRET of the old examples/deploy/env.example", () => {
    const m = refusal({ PARLANCE_JWT_SECRET: "change-me-to-at-least-32-random-bytes" });
    assert.match(m, /jwt\.secret \(PARLANCE_JWT_SECRET \/ --jwt-secret\)/);
    assert.match(m, /published example/);
  });

  test("the placeholders shipped today in examples/deploy and docs fail the check", () => {
    const files = ["examples/deploy/env.example", "docs/deploy.md", "docs/security.md", "README.md"];
    let seen = 0;
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(resolve(ROOT, f), "utf8");
      } catch {
        continue;
      }
      for (const m of text.matchAll(/PARLANCE_(?:JWT_SECRET|METRICS_TOKEN)=([^\s`"']+)/g)) {
        const value = m[1]!;
        if (value.startsWith("$")) continue; // "$(openssl rand ...)": generated at deploy time
        seen++;
        assert.match(refusal({ PARLANCE_JWT_SECRET: value }), /PARLANCE_JWT_SECRET/, `${f}: ${value}`);
      }
    }
    assert.ok(seen >= 2, `found ${seen} example secrets to check`);
  });

  test("a short secret", () => {
    assert.match(refusal({ PARLANCE_JWT_SECRET: "Zk3#pQ9!" }), /PARLANCE_JWT_SECRET.*8 bytes; it must be at least 32/);
  });

  test("a long but weak secret (one letter repeated)", () => {
    assert.match(refusal({ PARLANCE_JWT_SECRET: "x".repeat(40) }), /PARLANCE_JWT_SECRET.*too weak.*bits/);
  });

  test("an introspection client secret that is a placeholder", () => {
    const m = refusal({ PARLANCE_INTROSPECTION_URL: "https://id.example.com/introspect", PARLANCE_INTROSPECTION_CLIENT_ID: "p", PARLANCE_INTROSPECTION_CLIENT_SECRET: "change-me" });
    assert.match(m, /PARLANCE_INTROSPECTION_CLIENT_SECRET.*placeholder/);
  });

  test("a placeholder password in the database or Redis URL (examples/deploy's POSTGRES_PASSWORD=change-me)", () => {
    assert.match(refusal({ PARLANCE_DATABASE_URL: "postgres://parlance:change-me@postgres:5432/parlance" }), /store\.databaseUrl \(PARLANCE_DATABASE_URL.*password.*placeholder/);
    assert.match(refusal({ PARLANCE_REDIS_URL: "redis://:changeme@redis:6379" }), /queue\.redisUrl \(PARLANCE_REDIS_URL.*password/);
    assert.deepEqual(assertProductionReady(prod({ PARLANCE_DATABASE_URL: `postgres://parlance:${encodeURIComponent(GOOD_SECRET)}@db:5432/p` })), []);
  });

  test("a weak metrics token", () => {
    assert.match(refusal({ PARLANCE_METRICS_TOKEN: "metrics-metrics-metrics-metrics!" }), /metrics\.token \(PARLANCE_METRICS_TOKEN/);
  });

  test("trusted proxies that match every address", () => {
    for (const all of ["0.0.0.0/0", "::/0"]) {
      assert.match(refusal({ PARLANCE_TRUSTED_PROXIES: `10.0.0.1,${all}` }), /trustedProxies \(PARLANCE_TRUSTED_PROXIES.*trusts every peer/);
    }
  });

  test("a trusted-proxy entry that is not an address is named at load", () => {
    assert.throws(() => prod({ PARLANCE_TRUSTED_PROXIES: "10.0.0.1, nginx" }), /trustedProxies\.1 \(PARLANCE_TRUSTED_PROXIES \/ --trusted-proxies\): not an IP address/);
  });

  test("behind a proxy without trusted proxies: starts, with a warning about per-address limits", () => {
    const w = assertProductionReady(prod({ PARLANCE_TLS_CERT: "", PARLANCE_TLS_KEY: "", PARLANCE_BEHIND_PROXY: "1" }));
    assert.match(w.join("\n"), /PARLANCE_TRUSTED_PROXIES/);
    assert.deepEqual(assertProductionReady(prod({ PARLANCE_TLS_CERT: "", PARLANCE_TLS_KEY: "", PARLANCE_BEHIND_PROXY: "1", PARLANCE_TRUSTED_PROXIES: "10.0.0.2" })), []);
  });

  test("a metrics listener on a non-loopback address without a token: a warning", () => {
    assert.match(assertProductionReady(prod({ PARLANCE_METRICS_PORT: "9464", PARLANCE_METRICS_HOST: "10.0.0.7" })).join("\n"), /PARLANCE_METRICS_TOKEN/);
    assert.deepEqual(assertProductionReady(prod({ PARLANCE_METRICS_PORT: "9464" })), []);
  });

  test("every refusal is reported at once", () => {
    const m = refusal({ PARLANCE_TLS_CERT: "", PARLANCE_TLS_KEY: "", PARLANCE_JWT_SECRET: "x".repeat(40), PARLANCE_INTROSPECTION_URL: "http://id.example.com/i" });
    for (const name of ["PARLANCE_TLS_CERT", "PARLANCE_JWT_SECRET", "PARLANCE_INTROSPECTION_URL"]) assert.match(m, new RegExp(name));
  });
});

describe("dev mode binds loopback", () => {
  const dev = (env: Record<string, string>) => loadConfig({ env: { PARLANCE_DEV: "1", ...env } });

  test("dev mode on a non-loopback address is refused, naming dev and host", () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.10", "speech.example.com"]) {
      assert.throws(() => assertProductionReady(dev({ PARLANCE_HOST: host })), (e: Error) => {
        assert.match(e.message, /dev \(PARLANCE_DEV \/ --dev\)/);
        assert.match(e.message, new RegExp(`host \\(PARLANCE_HOST / --host\\)=${host.replace(/\./g, "\\.")}`));
        assert.match(e.message, /PARLANCE_ALLOW_INSECURE_DEV_ON_NETWORK/);
        return true;
      });
    }
  });

  test("forced with the flag: a warning", () => {
    const w = assertProductionReady(dev({ PARLANCE_HOST: "0.0.0.0", PARLANCE_ALLOW_INSECURE_DEV_ON_NETWORK: "1" }));
    assert.equal(w.length, 1);
    assert.match(w[0]!, /dev mode on 0\.0\.0\.0/);
  });

  test("loopback binds pass without a warning", () => {
    for (const host of ["127.0.0.1", "::1", "localhost", "127.0.0.2"]) assert.deepEqual(assertProductionReady(dev({ PARLANCE_HOST: host })), [], host);
  });
});

describe("the CLI exits 2 with the refusal", () => {
  test("`parlance serve` with an http:// JWKS URL and the example secret refuses to start, naming both", { timeout: 60_000 }, async () => {
    const dir = tempDir();
    makeRootAndIntermediate(dir);
    const leaf = makeLeaf(dir, "srv");
    const env = {
      PARLANCE_DATA_DIR: dir,
      PARLANCE_DEV: "0",
      PARLANCE_TLS_CERT: leaf.cert,
      PARLANCE_TLS_KEY: leaf.key,
      PARLANCE_JWKS_URL: "http://id.example.com/jwks.json",
      PARLANCE_JWT_SECRET: "change-me-to-at-least-32-random-bytes",
    };
    await assert.rejects(spawnServer(env, [], 30_000), (e: Error) => {
      assert.match(e.message, /PARLANCE_JWKS_URL/);
      assert.match(e.message, /PARLANCE_JWT_SECRET/);
      return true;
    });
  });

  test("`parlance serve --dev --host 0.0.0.0` refuses to start", { timeout: 60_000 }, async () => {
    await assert.rejects(spawnServer({ PARLANCE_DATA_DIR: tempDir() }, ["--dev", "--host", "0.0.0.0"], 30_000), /PARLANCE_ALLOW_INSECURE_DEV_ON_NETWORK/);
  });
});
