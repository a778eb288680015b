// Issue 3, acceptance 7: the README's first command. `npm start` on a machine with no
// configuration serves https + wss with a generated dev certificate, prints the URL, the
// certificate fingerprint and a dev token that the server accepts, and serves the practice page.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { https } from "../faults/_util.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { randomModel } from "../helpers/models.js";

const ROOT = resolve(import.meta.dirname, "../..");

test("npm start serves https/wss in dev mode and prints URL, fingerprint and a working dev token", { timeout: 120_000 }, async () => {
  const dataDir = tempDir();
  const env: NodeJS.ProcessEnv = { ...process.env, PARLANCE_DATA_DIR: dataDir, PARLANCE_PORT: "0", PARLANCE_STT_MODEL: randomModel("tiny.en") };
  // A user's shell has none of these: the quick start must work without them.
  for (const k of ["PARLANCE_DEV", "PARLANCE_JWT_SECRET", "PARLANCE_JWT_PUBLIC_KEY", "PARLANCE_JWKS_URL", "PARLANCE_TLS_CERT", "PARLANCE_TLS_KEY", "NODE_ENV"]) delete env[k];
  // detached: npm runs the server under a shell; signalling the process group stops all of them.
  const child = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  after(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  });

  const deadline = Date.now() + 90_000;
  while (!/dev token:\s+\S+/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) assert.fail(`npm start did not print its banner:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

  process.kill(-child.pid!, "SIGTERM");
  const code = await exited;
  assert.ok(code === 0 || code === null, `exit ${code}\n${out}`);
});
