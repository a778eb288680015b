// Issue 12, acceptance 2: one learner sends audio as fast as the socket allows for 15 s
// (reconnecting whenever it is closed) while another streams real speech at real-time pace,
// against a real `parlance serve` process with real Whisper (random-weight tiny.en: the words do
// not matter, the decode cost does). The flooder's audio is noise, so that what it gets accepted
// costs decodes. Figures: server RSS grows by less than 100 MB during the flood and afterwards,
// the victim keeps getting finals with protocol lag (lag_ms) p95 under 2 s, and the flooder is
// told why (a typed error).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { authed } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { metricValue, sleep, startFaultServer } from "./_util.js";

const FLOOD_MS = 15_000;
const MB = 1024;

test("audio flood from one learner: RSS bounded and returned, the other learner keeps getting finals on time, the flooder gets a typed error", { timeout: 300_000 }, async () => {
  const s = await startFaultServer(null, { PARLANCE_LLM_PROVIDER: "fake" });
  const victimToken = await hsToken({ sub: "victim" });
  const flooderToken = await hsToken({ sub: "flooder" });

  // Warm-up: two sessions decoding at once (speech and noise), so the model, JIT, heap and the
  // decoder's per-thread native memory reach their working size at this server's concurrency;
  // what the flood adds is measured from there.
  // Noise for longer than the 15 s window bound: the decoder's largest windows happen here.
  const warmNoise = () => Array.from({ length: 72 }, () => randomBytes(8000));
  await Promise.all(
    [
      [victimToken, wavChunks("jfk.wav")],
      [await hsToken({ sub: "warm-up-1" }), warmNoise()],
      [await hsToken({ sub: "warm-up-2" }), warmNoise()],
    ].map(async ([token, chunks]) => {
      const warm = await authed(s.gw, token as string);
      await warm.next("ready");
      await sendPaced(warm.ws, chunks as Buffer[], 250, 3);
      warm.ws.send(JSON.stringify({ type: "end" }));
      await warm.next("ended", 60_000);
      warm.ws.close();
    }),
  );
  await sleep(1000);

  const victim = await authed(s.gw, victimToken);
  await victim.next("ready");
  const speech = wavChunks("jfk.wav");
  // 11 s of speech, then 2 s of silence, three times: finals keep coming through the flood.
  const silence = Array.from({ length: 8 }, () => Buffer.alloc(8000));
  const victimAudio = [...speech, ...silence, ...speech, ...silence, ...speech];
  const victimDone = sendPaced(victim.ws, victimAudio, 250, 1);
  await sleep(2000);
  const baseline = s.srv.rssKb();
  // JS heap and external memory beside RSS: tells a leak (heap grows) from allocator high water.
  const heap = async () => {
    const t = await s.metrics();
    const mb = (n: string) => (metricValue(t, n) / 1e6).toFixed(0);
    return `JS heap used ${mb("parlance_nodejs_heap_size_used_bytes")} MB of ${mb("parlance_nodejs_heap_size_total_bytes")}, external ${mb("parlance_nodejs_external_memory_bytes")} MB`;
  };
  console.log("# baseline", await heap());

  // The flood: connect, authenticate, then keep the socket's send buffer full until closed; again.
  const flooderCodes = new Map<string, number>();
  const closeCodes = new Map<number, number>();
  let sentBytes = 0;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, s.srv.rssKb())), 200);
  const floodEnd = Date.now() + FLOOD_MS;
  const noise = randomBytes(16000); // 500 ms of s16 noise per frame
  while (Date.now() < floodEnd) {
    const f = await authed(s.gw, flooderToken);
    const first = await Promise.race([f.next("ready", 10_000).catch(() => null), f.closed.then(() => null)]);
    if (first) {
      while (f.ws.readyState === WebSocket.OPEN && Date.now() < floodEnd) {
        while (f.ws.bufferedAmount < 1024 * 1024 && f.ws.readyState === WebSocket.OPEN) {
          f.ws.send(noise);
          sentBytes += noise.length;
        }
        await new Promise((r) => setImmediate(r));
      }
    }
    if (f.ws.readyState === WebSocket.OPEN) f.ws.close();
    const closed = await f.closed;
    closeCodes.set(closed.code, (closeCodes.get(closed.code) ?? 0) + 1);
    for (const m of f.messages) if (m.type === "error") flooderCodes.set(String(m.code), (flooderCodes.get(String(m.code)) ?? 0) + 1);
  }
  clearInterval(sampler);
  console.log("# end of flood", await heap());
  const floodPeak = peak;

  await victimDone;
  victim.ws.send(JSON.stringify({ type: "end" }));
  await victim.next("ended", 60_000);
  await sleep(3000);
  const afterRss = s.srv.rssKb();
  console.log("# after the flood", await heap());

  const finals = victim.messages.filter((m) => m.type === "final");
  const lags = finals.map((m) => Number(m.lag_ms)).sort((a, b) => a - b);
  const p95 = lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.95) - 1)] ?? Infinity;
  const audioSeconds = sentBytes / 32000;
  console.log(
    `# flood: ${audioSeconds.toFixed(0)} s of audio offered in ${FLOOD_MS / 1000} s; flooder errors ${JSON.stringify(Object.fromEntries(flooderCodes))}, closes ${JSON.stringify(Object.fromEntries(closeCodes))}`,
  );
  console.log(
    `# RSS baseline ${(baseline / MB).toFixed(0)} MB, flood peak ${(floodPeak / MB).toFixed(0)} MB (+${((floodPeak - baseline) / MB).toFixed(0)}), after ${(afterRss / MB).toFixed(0)} MB (+${((afterRss - baseline) / MB).toFixed(0)})`,
  );
  console.log(`# victim: ${finals.length} finals, lag_ms p95 ${p95}, max ${lags.at(-1)}; load ${readFileSync("/proc/loadavg", "utf8").trim()}`);

  assert.ok(audioSeconds > 600, `the flooder offered far more than real time (${audioSeconds.toFixed(0)} s)`);
  assert.ok((flooderCodes.get("rate_limited") ?? 0) + (flooderCodes.get("too_many_sessions") ?? 0) > 0, "the flooder is told why");
  assert.ok((closeCodes.get(4420) ?? 0) > 0, `the flooder is closed with 4420: ${JSON.stringify(Object.fromEntries(closeCodes))}`);
  assert.ok(floodPeak - baseline < 100 * MB, `RSS grew ${((floodPeak - baseline) / MB).toFixed(0)} MB during the flood`);
  assert.ok(afterRss - baseline < 100 * MB, `RSS ${((afterRss - baseline) / MB).toFixed(0)} MB over baseline after the flood`);
  assert.ok(finals.length >= 3, `the victim got finals through the flood (${finals.length})`);
  assert.ok(p95 < 2000, `victim lag p95 ${p95} ms`);
  assert.deepEqual(
    victim.messages.filter((m) => m.type === "error"),
    [],
    "the victim got no error",
  );
  victim.ws.close();
  const exit = await s.srv.stop("SIGTERM");
  assert.equal(exit.code, 0, s.srv.output());
});
