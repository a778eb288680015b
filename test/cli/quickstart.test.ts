// Issue 3, acceptance 7: the README's first command. `npm start` on a machine with no
// configuration serves https + wss with a generated dev certificate, prints the URL, the
// certificate fingerprint and a dev token that the server accepts, and serves the practice page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { https } from "../faults/_util.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { randomModel } from "../helpers/models.js";
import { npmStart, waitForDevBanner } from "../helpers/process.js";


test("npm start serves https/wss in dev mode and prints URL, fingerprint and a working dev token", { timeout: 120_000 }, async () => {
  const dataDir = tempDir();
  const env: NodeJS.ProcessEnv = { ...process.env, PARLANCE_DATA_DIR: dataDir, PARLANCE_PORT: "0", PARLANCE_STT_MODEL: randomModel("tiny.en") };
  // A user's shell has none of these: the quick start must work without them.
  for (const k of ["PARLANCE_DEV", "PARLANCE_JWT_SECRET", "PARLANCE_JWT_PUBLIC_KEY", "PARLANCE_JWKS_URL", "PARLANCE_TLS_CERT", "PARLANCE_TLS_KEY", "NODE_ENV"]) delete env[k];
  const p = npmStart([], env);
  const out = await waitForDevBanner(p, 90_000);
  const url = /listening on (https:\/\/\S+)/.exec(out)?.[1];
  const wsUrl = /stream:\s+(wss:\/\/\S+)/.exec(out)?.[1];
  const printedFp = /SHA-256 ([0-9A-F:]+)/.exec(out)?.[1];
  const token = /dev token:\s+(\S+)/.exec(out)![1]!;
  assert.ok(url && wsUrl && printedFp, out);
  assert.match(out, /new self-signed dev certificate/);

  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  assert.equal(new X509Certificate(ca).fingerprint256, printedFp, "the printed fingerprint is the served certificate's");

  const page = await https(url, ca, "GET", "/");
  assert.equal(page.status, 200);
  assert.match(page.text, /dist\/app\.js/);
  const bundle = await https(url, ca, "GET", "/dist/app.js");
  assert.equal(bundle.status, 200, "the practice page's bundle exists on a fresh install (built by postinstall)");
  assert.ok(bundle.text.length > 1000);

  const c = await authed({ wsUrl, ca }, token);
  const ready = await c.next("ready", 30_000);
  assert.equal(ready.protocol, 1);
  c.ws.close();

  const code = await p.stop();
  assert.ok(code === 0 || code === null, `exit ${code}\n${p.output()}`);
});
