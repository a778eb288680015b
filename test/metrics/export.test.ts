// Issue 14, acceptance 5: /metrics exports the decode latency and queue wait histograms on the
// gateway and on `parlance worker` (which had no /metrics before), scraped over the network the
// way Prometheus does. The worker runs for real on a real Redis with a SQLite store; the job it
// runs is one a gateway-side RedisAnalysisQueue enqueued, so its queue wait is a measured one.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { authed, startTestGateway, tempDir, testConfig } from "../helpers/gateway.js";
import { wavChunks } from "../helpers/pipeline.js";
import { jfkScript } from "../client/_server.js";
import { startRedis } from "../helpers/redis.js";
import { send } from "../helpers/request.js";
import { hsToken } from "../helpers/tokens.js";
import { https, metricValue, until } from "../faults/_util.js";
import { streamConfig } from "../store/fixtures.js";
import { startWorker } from "../../src/app.js";
import { ConfigError } from "../../src/config/index.js";
import { createAudioIngest } from "../../src/audio/index.js";
import { Metrics } from "../../src/metrics/index.js";
import { createSttService } from "../../src/stt/service.js";
import { FakeTranscriber, timelineResponder } from "../../src/stt/fake.js";
import { RedisAnalysisQueue } from "../../src/jobs/redis.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

/** The histogram families of acceptance 5, on every process. */
const HISTOGRAMS = ["parlance_stt_decode_seconds", "parlance_stt_queue_wait_seconds", "parlance_analysis_queue_wait_seconds", "parlance_analysis_seconds"];

function assertHistogram(text: string, name: string, where: string): void {
  assert.match(text, new RegExp(`^# TYPE ${name} histogram$`, "m"), `${where}: ${name} is a histogram`);
  assert.match(text, new RegExp(`^${name}_bucket\\{le="\\+Inf"\\} \\d+$`, "m"), `${where}: ${name} has its +Inf bucket`);
  assert.ok(Number.isFinite(metricValue(text, `${name}_count`)), `${where}: ${name}_count`);
}

test("the gateway's /metrics: a spoken session's decodes in the decode latency and queue wait histograms; REST requests counted by route", async () => {
  const dataDir = tempDir();
  const env = { PARLANCE_DATA_DIR: dataDir };
  const store = await createRepository(testConfig(env, dataDir), silentLogger);
  after(() => store.close());
  // Wired as app.ts wires it: one Metrics for the gateway and the speech-to-text service.
  const metrics = new Metrics();
  const stt = await createSttService(testConfig({ ...env, PARLANCE_STT_ENGINE: "fake" }, dataDir), silentLogger, {
    transcriber: new FakeTranscriber({ respond: timelineResponder(jfkScript()), delayMs: 5 }),
    capacityStreams: 4,
    metrics,
  });
  after(() => stt.close());
  const gw = await startTestGateway({ ...env, PARLANCE_STT_ENGINE: "fake" }, { store, stt, metrics, audio: (cfg) => createAudioIngest(cfg) });
  const token = await hsToken({ sub: "metrics-learner" });

  // A spoken session: its decodes are what the STT histograms observe.
  const c = await authed(gw, token);
  await c.next("ready");
  for (const chunk of wavChunks("jfk.wav").slice(0, 28)) c.ws.send(chunk);
  await c.next("final", 20_000);
  c.ws.close();
  await c.closed;
  assert.equal((await https(gw.url, gw.ca, "GET", "/v1/sessions", token)).status, 200);
  assert.equal((await https(gw.url, gw.ca, "GET", `/v1/sessions/${randomUUID()}`, token)).status, 404);
  assert.equal((await https(gw.url, gw.ca, "GET", "/v1/sessions", "not-a-jwt")).status, 401);

  const scrape = await https(gw.url, gw.ca, "GET", "/metrics");
  assert.equal(scrape.status, 200);
  for (const name of HISTOGRAMS) assertHistogram(scrape.text, name, "gateway");
  const decodes = metricValue(scrape.text, "parlance_stt_decode_seconds_count");
  assert.ok(decodes >= 1, `decodes observed: ${decodes}`);
  assert.equal(metricValue(scrape.text, "parlance_stt_queue_wait_seconds_count"), decodes, "one queue wait per decode");
  assert.ok(metricValue(scrape.text, "parlance_stt_decoded_audio_seconds_total") > 0);
  assert.equal(metricValue(scrape.text, "parlance_rest_requests_total", 'route="/v1/sessions",method="GET",status="200"'), 1);
  assert.equal(metricValue(scrape.text, "parlance_rest_requests_total", 'route="/v1/sessions/:id",method="GET",status="404"'), 1, "by pattern, not by id");
  assert.equal(metricValue(scrape.text, "parlance_rest_requests_total", 'route="/v1/sessions",method="GET",status="401"'), 1);
  assert.equal(metricValue(scrape.text, "parlance_rest_request_seconds_count", 'route="/v1/sessions"'), 2);
  assert.equal(metricValue(scrape.text, "parlance_auth_failures_total"), 1);
});

test("`parlance worker` serves /metrics on its own listener: the analysis it ran is in the queue wait and duration histograms", { timeout: 120_000 }, async () => {
  // One after() that stops things in order: the worker and queue while Redis still answers.
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const redis = await startRedis();
  cleanup.push(() => redis.stop());
  const dataDir = tempDir();
  const config = testConfig(
    {
      PARLANCE_DATA_DIR: dataDir,
      PARLANCE_REDIS_URL: redis.url,
      PARLANCE_QUEUE_PREFIX: `m${process.pid}`,
      PARLANCE_LLM_PROVIDER: "fake",
      PARLANCE_METRICS_WORKER_PORT: "0",
    },
    dataDir,
  );
  const worker = await startWorker(config, silentLogger);
  cleanup.push(() => worker.close(0));
  assert.match(worker.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, "loopback by default");

  // A session with speech, enqueued the way a gateway does.
  const store = await createRepository(config, silentLogger);
  cleanup.push(() => store.close());
  const sessionId = randomUUID();
  await store.createSession({ id: sessionId, subject: "worker-learner", config: streamConfig, claims: {}, createdAt: new Date().toISOString() });
  await store.appendSegment({ sessionId, segmentId: 0, text: "I go there yesterday", start: 0, end: 1.5, words: [] });
  const queue = new RedisAnalysisQueue({ repo: store, config, log: silentLogger });
  cleanup.push(() => queue.close());
  await queue.start();
  const jobId = await queue.enqueue({ sessionId, scope: "session", segmentFrom: null, segmentTo: null });
  await until("the worker finished the job", async () => (await store.getJob(jobId))?.status === "done", 60_000, 100);

  const scrape = await send(worker.metricsUrl);
  assert.equal(scrape.status, 200);
  for (const name of HISTOGRAMS) assertHistogram(scrape.text, name, "worker");
  assert.equal(metricValue(scrape.text, "parlance_analysis_queue_wait_seconds_count"), 1, "the job's wait was observed");
  assert.equal(metricValue(scrape.text, "parlance_analysis_seconds_count"), 1);
  assert.equal(metricValue(scrape.text, "parlance_analysis_jobs_total", 'outcome="skipped"'), 1, "the fake provider's deterministic report");
  // Only /metrics is served there.
  assert.equal((await send(worker.metricsUrl.replace("/metrics", "/v1/sessions"))).status, 404);
});

test("a worker whose metrics port is taken refuses to start, naming the setting", async () => {
  const dataDir = tempDir();
  const env = { PARLANCE_DATA_DIR: dataDir, PARLANCE_REDIS_URL: "redis://127.0.0.1:1", PARLANCE_LLM_PROVIDER: "fake", PARLANCE_METRICS_WORKER_PORT: "0" };
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
  after(() => holder.close());
  const port = (holder.address() as AddressInfo).port;
  await assert.rejects(startWorker(testConfig({ ...env, PARLANCE_METRICS_WORKER_PORT: String(port) }, dataDir), silentLogger), (e: Error) => e instanceof ConfigError && /PARLANCE_METRICS_WORKER_PORT/.test(e.message));
});
