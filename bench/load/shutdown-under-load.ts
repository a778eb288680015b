// Reproduction for a problem bench:load found: SIGTERM while decodes are still running (sessions
// beyond capacity, backlog of finals) and the shutdown grace runs out. It admits N streams
// (--max-streams N, above the measured capacity), streams real speech for a few seconds, sends
// SIGTERM with a short grace, and reports how the server exited. Bounded, loopback only.
// Usage: node bin/run-ts.js bench/load/shutdown-under-load.ts [--streams 40] [--seconds 8] [--grace-ms 1000] [--tries 3]
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { ensureDevCertificate } from "../../src/transport/tls.js";
import { readWav } from "../../src/audio/wav.js";
import { AUDIO_DIR, randomModel } from "../../test/helpers/models.js";
import { startServer } from "./server.js";
import { LoadClient } from "./client.js";

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const streams = Number(arg("streams", "40"));
const seconds = Number(arg("seconds", "8"));
const graceMs = Number(arg("grace-ms", "1000"));
const tries = Number(arg("tries", "3"));
// Random per run: production mode refuses a secret published in the repository (docs/security.md).
const SECRET = randomBytes(32).toString("base64url");
const hard = setTimeout(() => {
  console.error("hard timeout");
  process.exit(3);
}, tries * (seconds * 1000 + graceMs + 90_000));

const pcm = readWav(join(AUDIO_DIR, "jfk.wav")).pcm;
let bad = 0;
for (let attempt = 1; attempt <= tries; attempt++) {
  const dataDir = mkdtempSync(join(tmpdir(), "parlance-shutdown-"));
  const tls = await ensureDevCertificate(dataDir);
  const server = await startServer(
    {
      PARLANCE_HOST: "127.0.0.1",
      PARLANCE_PORT: "0",
      PARLANCE_DATA_DIR: dataDir,
      PARLANCE_TLS_CERT: tls.cert,
      PARLANCE_TLS_KEY: tls.key,
      PARLANCE_JWT_SECRET: SECRET,
      PARLANCE_LOG_LEVEL: "warn",
      PARLANCE_STT_MODEL: randomModel("tiny.en"),
      PARLANCE_STT_MAX_STREAMS: String(streams),
      PARLANCE_STT_LOGPROB_THRESHOLD: "-100",
      PARLANCE_LLM_PROVIDER: "fake",
      PARLANCE_SHUTDOWN_GRACE_MS: String(graceMs),
    },
    120_000,
  );
  const t0 = performance.now();
  const ca = readFileSync(tls.cert, "utf8");
  const key = new TextEncoder().encode(SECRET);
  const clients: LoadClient[] = [];
  for (let i = 0; i < streams; i++) {
    const token = await new SignJWT({ sub: `s-${i}` }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key);
    const c = new LoadClient({
      url: server.wsUrl, ca, token, pcm, offset: (i * 8000 * 5) % pcm.length, chunkBytes: 8000, chunks: 10_000, chunkMs: 250,
      phaseMs: Math.round((i * 250) / streams), pingEveryMs: 60_000, endTimeoutMs: 60_000, closeTimeoutMs: 60_000,
      now: () => performance.now() - t0,
    });
    clients.push(c);
    c.start();
    await c.verdict;
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const ready = clients.filter((c) => c.tReady !== null).length;
  const stopped = await server.stop(graceMs + 15_000);
  for (const c of clients) c.fail("done");
  const ok = !stopped.killed && stopped.code === 0;
  if (!ok) bad++;
  console.log(`try ${attempt}: ${ready}/${streams} streams ready, SIGTERM after ${seconds} s (grace ${graceMs} ms) -> exit code ${stopped.code} signal ${stopped.signal}${stopped.killed ? " (SIGKILLed)" : ""}${ok ? "" : "  <-- not a clean exit"}`);
  for (const e of server.log.errors.slice(0, 3)) console.log(`  server error: ${e.slice(0, 300)}`);
  rmSync(dataDir, { recursive: true, force: true });
}
clearTimeout(hard);
console.log(`${bad}/${tries} shutdowns under load were not clean`);
process.exit(bad > 0 ? 1 : 0);
