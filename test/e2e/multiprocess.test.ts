// Issue 8, "past one machine": two gateway processes (role gateway, no LLM) and `parlance worker`
// processes on one real PostgreSQL and one real Redis, all on loopback. A session streamed to
// gateway B is analysed by the worker and its report comes back on B's socket; gateway A serves
// it over REST. Then the store proves to be the source of truth: with no worker running, Redis
// is flushed; a new worker finds the job in the store, the LLM is down at first (a provisional
// report reaches the client through Redis pub/sub) and the retry completes it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { spawnParlance, spawnServer } from "../helpers/process.js";
import { startRedis } from "../helpers/redis.js";
import { startPostgres } from "../helpers/postgres.js";
import { makeLeaf, makeRootAndIntermediate } from "../helpers/certs.js";
import { authed, tempDir, type Recorded } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { pipelineEnv, sendPaced, wavChunks } from "../helpers/pipeline.js";
import { ScriptedLlm, https, metricValue, until } from "../faults/_util.js";
import { send } from "../helpers/request.js";
import { loadConfig } from "../../src/config/index.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

const WORKER_MODEL = "worker-only-llama-3-8b-instruct";

interface WorkerProcess {
  id: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `parlance worker` as a child process; resolves once it prints its ready banner. */
async function spawnWorker(env: Record<string, string>, startTimeoutMs = 120_000): Promise<WorkerProcess> {
  const { child, output, exited } = spawnParlance(["worker"], { ...process.env, ...env });
  const ready = /parlance worker (\S+) ready/;
  let timer: NodeJS.Timeout | undefined;
  const started = await Promise.race([
    new Promise<boolean>((r) => {
      const check = () => (ready.test(output()) ? r(true) : setTimeout(check, 50));
      check();
    }),
    exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), startTimeoutMs))),
  ]);
  clearTimeout(timer); // a pending start timer would keep the test process alive after the test
  if (!started) {
    child.kill("SIGKILL");
    throw new Error(`worker did not start:\n${output()}`);
  }
  return {
    id: ready.exec(output())![1]!,
    output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Streams jfk.wav, ends the session and returns the analysis job id the gateway announced. */
async function speakAndEnd(c: Recorded): Promise<{ sessionId: string; jobId: string }> {
  const ready = await c.next("ready", 60_000);
  await sendPaced(c.ws, wavChunks("jfk.wav"), 250, 4);
  c.ws.send(JSON.stringify({ type: "end" }));
  const started = await c.next("analysis_started", 120_000);
  assert.equal(started.scope, "session");
  return { sessionId: ready.session_id as string, jobId: started.job_id as string };
}

const reports = (c: Recorded) => c.messages.filter((m) => m.type === "report") as { job_id: string; report: any }[];

test("two gateways + a worker on real Redis and PostgreSQL: the worker's report reaches the socket's gateway", { timeout: 600_000 }, async () => {
  const redis = await startRedis();
  after(() => redis.stop());
  const pg = await startPostgres();
  after(() => pg.stop());
  const databaseUrl = await pg.createDatabase();
  const llm = await ScriptedLlm.create("answer");

  // One certificate for both gateways, as behind a TCP load balancer.
  const certDir = tempDir();
  const { rootPem: ca } = makeRootAndIntermediate(certDir);
  const leaf = makeLeaf(certDir, "gateway");
  const prefix = `mp${process.pid}`;
  const shared = {
    ...pipelineEnv(),
    PARLANCE_DEV: "0",
    PARLANCE_LOG_LEVEL: "info",
    PARLANCE_DATABASE_URL: databaseUrl,
    PARLANCE_REDIS_URL: redis.url,
    PARLANCE_QUEUE_PREFIX: prefix,
  };
  // Gateways are configured with another LLM (an embedded file that does not even exist): a
  // report naming the worker's model can only have been produced by the worker.
  const gatewayEnv = (name: string) => ({
    ...shared,
    PARLANCE_DATA_DIR: tempDir(`parlance-${name}-`),
    PARLANCE_TLS_CERT: leaf.cert,
    PARLANCE_TLS_KEY: leaf.key,
    PARLANCE_QUEUE_ROLE: "gateway",
    PARLANCE_LLM_PROVIDER: "embedded",
    PARLANCE_LLM_MODEL: "/nonexistent/gateway-must-not-load-this.gguf",
  });
  const workerEnv = (extra: Record<string, string> = {}) => ({
    ...shared,
    PARLANCE_DATA_DIR: tempDir("parlance-worker-"),
    PARLANCE_LLM_PROVIDER: "openai",
    PARLANCE_LLM_BASE_URL: llm.baseUrl,
    PARLANCE_LLM_MODEL: WORKER_MODEL,
    // Random-weight Whisper words carry ~0 confidence; without this the quality gate would skip
    // the LLM, and the test is about the LLM path through the worker.
    PARLANCE_ANALYSIS_CONFIDENCE_THRESHOLD: "0",
    PARLANCE_ANALYSIS_MIN_WORDS: "1",
    PARLANCE_METRICS_WORKER_PORT: "0", // workers' /metrics on a free port, never one another run holds
    ...extra,
  });

  const [gwA, gwB, worker] = await Promise.all([
    // spawnServer's start timer is never cleared and holds the process open after the test, so
    // it is kept short (helpers/process.ts could clear it).
    spawnServer(gatewayEnv("gw-a"), [], 90_000),
    spawnServer(gatewayEnv("gw-b"), [], 90_000),
    spawnWorker(workerEnv()),
  ]);
  assert.notEqual(gwA.url, gwB.url);
  const token = await hsToken({ sub: "multi-machine-learner" });

  // ---- 1. Streamed to B, analysed by the worker, delivered on B's socket ----------------------
  const c1 = await authed({ wsUrl: gwB.wsUrl, ca }, token);
  const s1 = await speakAndEnd(c1);
  const final1 = await until("the report on gateway B's socket", () => reports(c1).find((r) => r.report.status === "complete"), 180_000, 200);
  assert.equal(final1.job_id, s1.jobId);
  assert.equal(final1.report.session_id, s1.sessionId);
  assert.equal(final1.report.llm_status, "ok", JSON.stringify(final1.report));
  assert.equal(final1.report.versions.model, `openai:${WORKER_MODEL}`, "the model only the worker has");
  assert.ok(llm.answered >= 1, "the worker's LLM answered");
  const closed1 = await c1.closed;
  assert.equal(closed1.code, 1000, "the session closes normally once its report is delivered");
  assert.match(worker.output(), new RegExp(`"job":"${s1.jobId}"[^\\n]*"analysis job done"`), "the worker logged running this job");
  for (const gw of [gwA, gwB]) assert.doesNotMatch(gw.output(), /analysis job (started|done)/, "gateways never run analyses");

  // Acceptance 5 (issue 14) on real processes: B's decodes are in its STT histograms, and the
  // worker's own /metrics listener (its URL in the ready banner) saw the job's queue wait.
  const gwMetrics = await https(gwB.url, ca, "GET", "/metrics");
  assert.equal(gwMetrics.status, 200);
  assert.ok(metricValue(gwMetrics.text, "parlance_stt_decode_seconds_count") >= 1, "gateway B decoded");
  assert.equal(metricValue(gwMetrics.text, "parlance_stt_queue_wait_seconds_count"), metricValue(gwMetrics.text, "parlance_stt_decode_seconds_count"));
  const workerMetricsUrl = /metrics:\s+(http:\/\/\S+\/metrics)/.exec(worker.output())?.[1];
  assert.ok(workerMetricsUrl, worker.output());
  const wMetrics = await send(workerMetricsUrl);
  assert.equal(wMetrics.status, 200);
  assert.ok(metricValue(wMetrics.text, "parlance_analysis_queue_wait_seconds_count") >= 1, "the worker observed the job's queue wait");
  assert.ok(metricValue(wMetrics.text, "parlance_analysis_seconds_count") >= 1);
  assert.match(wMetrics.text, /^# TYPE parlance_stt_decode_seconds histogram$/m, "the same series families on every process");

  // Gateway A never saw the socket; it serves the same report from the shared store.
  const rest = await https(gwA.url, ca, "GET", `/v1/sessions/${s1.sessionId}/report`, token);
  assert.equal(rest.status, 200, rest.text);
  assert.equal(rest.body.job_id, s1.jobId);
  assert.deepEqual(rest.body.report, final1.report);

  // ---- 2. Redis flushed while no worker runs: the store brings the job back -------------------
  assert.equal((await worker.stop("SIGTERM")).code, 0, worker.output());
  const c2 = await authed({ wsUrl: gwA.wsUrl, ca }, token);
  const s2 = await speakAndEnd(c2);
  const admin = new Redis(redis.url);
  after(() => admin.disconnect());
  assert.equal(await admin.exists(`${prefix}:analysis:${s2.jobId}`), 1, "the gateway put the job on the Redis queue");
  await admin.flushall();
  assert.equal(await admin.exists(`${prefix}:analysis:${s2.jobId}`), 0);

  // The new worker finds the job in the store; its LLM is down at first, then comes back.
  await llm.set("down");
  const worker2 = await spawnWorker(workerEnv({ PARLANCE_ANALYSIS_RETRY_BASE_MS: "1000", PARLANCE_ANALYSIS_RETRY_MAX_MS: "2000" }));
  assert.match(worker2.output(), /re-queued analysis jobs the store holds but Redis did not/);
  const provisional = await until("a provisional report on gateway A's socket", () => reports(c2)[0], 120_000, 200);
  assert.equal(provisional.job_id, s2.jobId);
  assert.equal(provisional.report.status, "pending", "LLM down: the deterministic parts arrive first");
  // The provisional report leaves before the LLM is called: the LLM comes back only once the
  // first attempt has failed, or that attempt could succeed and no retry would happen.
  await until("the first attempt failed", () => /analysis will be retried/.test(worker2.output()), 120_000, 100);
  await llm.set("answer");
  const final2 = await until("the complete report after the retry", () => reports(c2).find((r) => r.report.status === "complete"), 180_000, 200);
  assert.equal(final2.job_id, s2.jobId);
  assert.equal(final2.report.llm_status, "ok");
  assert.equal((await c2.closed).code, 1000);

  const repo = await createRepository(loadConfig({ env: { PARLANCE_DATABASE_URL: databaseUrl, PARLANCE_DATA_DIR: tempDir() } }), silentLogger);
  try {
    const [job] = (await repo.listJobs(s2.sessionId)).filter((j) => j.scope === "session");
    assert.equal(job?.status, "done");
    assert.ok((job?.attempts ?? 0) >= 2, `one failed attempt, then the successful one: ${JSON.stringify(job)}`);
  } finally {
    await repo.close();
  }

  for (const p of [worker2, gwA, gwB]) {
    const exit = await p.stop("SIGTERM");
    assert.equal(exit.code, 0, p.output());
  }
});
