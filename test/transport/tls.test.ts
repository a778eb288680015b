// Issue 3, acceptance 4 and 5: certificate chain, hot reload, and a clean sslscan.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { authed, startTestGateway, tempDir } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { makeLeaf, makeRootAndIntermediate } from "../helpers/certs.js";

function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("serves an intermediate chain; hot reload swaps the certificate for new handshakes only", async () => {
  const dir = tempDir();
  const { rootPem } = makeRootAndIntermediate(dir);
  const a = makeLeaf(dir, "a");
  const b = makeLeaf(dir, "b");
  const live = { cert: join(dir, "live.pem"), key: join(dir, "live.key") };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);
  const gw = await startTestGateway({ PARLANCE_TLS_CERT: live.cert, PARLANCE_TLS_KEY: live.key, PARLANCE_TLS_RELOAD_DEBOUNCE_MS: "50" });

  // The client trusts only the root: the handshake succeeds only if the intermediate is sent.
  const fpA = await peerFingerprint(gw.port, rootPem);
  assert.equal(fpA, gw.fingerprint());

  const session = await authed({ wsUrl: gw.wsUrl, ca: rootPem }, await hsToken());
  await session.next("ready");

  // Replace the files the way deploy tools do: write elsewhere, rename over.
  copyFileSync(b.key, join(dir, "tmp.key"));
  copyFileSync(b.cert, join(dir, "tmp.pem"));
  renameSync(join(dir, "tmp.key"), live.key);
  renameSync(join(dir, "tmp.pem"), live.cert);

  const fpB = await waitFor(() => peerFingerprint(gw.port, rootPem), (fp) => fp !== fpA);
  assert.notEqual(fpB, fpA, "new connections see the new certificate");
  assert.equal(gw.fingerprint(), fpB);

  // The session opened before the reload keeps streaming.
  for (let i = 0; i < 4; i++) session.ws.send(Buffer.alloc(8000));
  session.ws.send(JSON.stringify({ type: "flush" }));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(session.ws.readyState, session.ws.OPEN);
  assert.ok(!session.messages.some((m) => m.type === "error"), JSON.stringify(session.messages));

  // A half-written pair (cert without matching key) is refused; the working one stays.
  copyFileSync(a.cert, live.cert);
  assert.equal(gw.reloadCertificate(), false);
  assert.equal(await peerFingerprint(gw.port, rootPem), fpB);
  session.ws.close();
});

test("sslscan: no SSLv3/TLS 1.0/1.1, only forward-secret AEAD suites", async () => {
  const gw = await startTestGateway();
  const { stdout } = await promisify(execFile)("sslscan", ["--no-colour", `127.0.0.1:${gw.port}`], { timeout: 60_000 });
  for (const p of ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"]) assert.match(stdout, new RegExp(`^${p.replace(".", "\\.")}\\s+disabled`, "m"), `${p} disabled`);
  assert.match(stdout, /^TLSv1\.2\s+enabled/m);
  assert.match(stdout, /^TLSv1\.3\s+enabled/m);
  const suites = stdout
    .split("\n")
    .filter((l) => /^(Preferred|Accepted)\s+TLSv/.test(l))
    .map((l) => l.trim().split(/\s+/));
  assert.ok(suites.length >= 3, stdout);
  for (const s of suites) {
    const [, version, , , name] = s as [string, string, string, string, string];
    assert.match(name, /GCM|CHACHA20-POLY1305|CHACHA20_POLY1305/, `AEAD only: ${s.join(" ")}`);
    if (version === "TLSv1.2") assert.match(name, /^ECDHE-/, `forward secrecy: ${s.join(" ")}`);
  }
});
