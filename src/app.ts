// Composition root: turns a validated Config into running parts (TLS material, verifier, store,
// curriculum, speech-to-text, analysis queue, gateway) and owns their shutdown order.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "./config/index.js";
import { assertProductionReady, ConfigError } from "./config/index.js";
import { createVerifier, type TokenVerifier } from "./auth/verifier.js";
import { devSecret, mintDevToken } from "./auth/dev.js";
import { ensureDevCertificate, fingerprint } from "./transport/tls.js";
import { startGateway, type Gateway } from "./transport/server.js";
import { Metrics } from "./metrics/index.js";
import { startMetricsListener } from "./transport/metrics.js";
import { createRepository } from "./store/index.js";
import type { Repository } from "./store/types.js";
import { importConfiguredCurriculum } from "./curriculum/startup.js";
import { createCurriculumRetriever } from "./curriculum/retriever.js";
import { createSttService } from "./stt/service.js";
import { createAudioIngest } from "./audio/index.js";
import type { SttService } from "./stt/types.js";
import { createAnalyzer } from "./analysis/analyzer.js";
import { llmProvider } from "./analysis/models/factory.js";
import { deterministicReport } from "./analysis/analyzer.js";
import type { Analyzer } from "./analysis/types.js";
import { queueFor } from "./jobs/index.js";
import { AnalysisWorker } from "./jobs/redis.js";
import type { AnalysisQueue } from "./jobs/types.js";
import type { Logger } from "./util/log.js";
import type { MetricsSink } from "./metrics/events.js";
import { background } from "./util/background.js";
import { ensurePrivateDir } from "./util/private-files.js";

export interface App {
  gateway: Gateway;
  verifier: TokenVerifier;
  store: Repository;
  stt: SttService | null;
  analysis: AnalysisQueue;
  devToken: (() => Promise<string>) | null;
  tlsGenerated: boolean;
  close(graceMs?: number): Promise<void>;
}

/** A provider that writes no feedback ("fake"): reports with the deterministic parts only, for tests and LLM-less setups. */
function deterministicAnalyzer(config: Config): Analyzer {
  return {
    modelName: "none",
    analyze: async (input) => deterministicReport(input, config, "skipped", "none"),
    close: async () => {},
  };
}

export async function buildAnalyzer(config: Config, store: Repository, log: Logger, metrics?: MetricsSink): Promise<Analyzer> {
  if (!llmProvider(config.llm.provider).capabilities.writesFeedback) return deterministicAnalyzer(config);
  const retriever = createCurriculumRetriever(store);
  const analyzer = await createAnalyzer(config, { logger: log, retriever });
  // In the background: the prompt prefix is evaluated once per process, before the first report.
  background(analyzer.warmup(), "llm warmup", log, metrics);
  return analyzer;
}

function assertQueueConfig(config: Config): void {
  if (config.queue.role === "gateway" && !config.queue.redisUrl) {
    throw new ConfigError(
      "queue.role gateway (PARLANCE_QUEUE_ROLE) needs PARLANCE_REDIS_URL: analyses run in `parlance worker` processes that take jobs from Redis",
    );
  }
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  for (const warning of assertProductionReady(config)) log.warn(warning);
  assertQueueConfig(config);
  const dataDir = resolve(config.dataDir);
  ensurePrivateDir(dataDir);
  const closers: { name: string; fn: () => Promise<unknown> }[] = [];
  const onClose = (name: string, fn: () => Promise<unknown>) => closers.push({ name, fn });

  try {
    let tls: { cert: string; key: string } | null = null;
    let tlsGenerated = false;
    if (config.tls.cert && config.tls.key) tls = { cert: resolve(config.tls.cert), key: resolve(config.tls.key) };
    else if (!config.behindProxy) {
      const dev = await ensureDevCertificate(dataDir);
      tls = { cert: dev.cert, key: dev.key };
      tlsGenerated = dev.generated;
    }

    const hasVerifier = Boolean(config.jwt.secret || config.jwt.publicKey || config.jwt.jwksUrl || config.jwt.introspectionUrl);
    const secret = config.dev && !hasVerifier ? devSecret(dataDir) : undefined;
    const verifier = await createVerifier(config.jwt, { devSecret: secret, log });
    // Each dev token gets a subject of its own (mintDevToken's default).
    const devToken = secret ? () => mintDevToken(secret, { ttlSeconds: 3600, issuer: config.jwt.issuer, audience: config.jwt.audience }) : null;

    const metrics = new Metrics();
    const store = await createRepository(config, log);
    onClose("store", () => store.close());
    await importConfiguredCurriculum(store, config, log); // logs its own summary

    let stt: SttService | null = null;
    let sttUnavailable: string | null = null;
    try {
      stt = await createSttService(config, log, { metrics }); // the guards come from config.stt (policyFromConfig)
      const s = stt;
      onClose("stt", () => s.close());
    } catch (err) {
      // In dev mode the server still starts (the page, REST and auth work) and says what to do.
      if (!config.dev) throw err;
      sttUnavailable = `speech recognition is not set up on this server: ${(err as Error).message}`;
      log.error({ err: (err as Error).message }, "speech-to-text could not start; sessions will be refused until it is fixed");
    }

    // role "gateway" never loads the LLM: analyses run in `parlance worker` processes.
    const inProcessAnalysis = config.queue.role === "all";
    const analyzer = inProcessAnalysis ? await buildAnalyzer(config, store, log, metrics) : null;
    if (analyzer) onClose("analyzer", () => analyzer.close());
    // Core policy: live transcription first; an embedded LLM keeps to the cores it leaves.
    if (analyzer?.setSttThreads && stt) stt.onThreadDemand((n) => analyzer.setSttThreads!(n));
    const analysis = await queueFor(config).start({ repo: store, analyzer, config, log, metrics });
    onClose("analysis queue", () => analysis.stop(0));
    const queue = analysis.queue;

    const gateway = await startGateway(config, {
      log,
      verifier,
      metrics,
      tls,
      devToken,
      store,
      stt,
      sttUnavailable,
      audio: (cfg) => createAudioIngest(cfg),
      analysis: queue,
    });
    if (tls) log.info({ url: gateway.url, fingerprint: fingerprint(readFileSync(tls.cert, "utf8")) }, "listening");

    return {
      gateway,
      verifier,
      store,
      stt,
      analysis: queue,
      devToken,
      tlsGenerated,
      async close(graceMs = config.shutdownGraceMs) {
        const started = Date.now();
        await gateway.close(graceMs);
        // Running analyses get what is left of the grace period; unfinished ones resume on restart
        // (or, with Redis, on another worker once their lock expires).
        const left = Math.max(0, graceMs - (Date.now() - started));
        await analysis.stop(left);
        for (const c of closers.reverse()) await c.fn().catch((err: unknown) => log.error({ err, step: c.name }, "shutdown step failed"));
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c.fn().catch(() => undefined);
    throw err;
  }
}

export interface WorkerApp {
  worker: AnalysisWorker;
  store: Repository;
  analyzer: Analyzer;
  metrics: Metrics;
  /** The worker's /metrics (metrics.host:metrics.workerPort). */
  metricsUrl: string;
  close(graceMs?: number): Promise<void>;
}

/** `parlance worker`: the store, the analyzer and a BullMQ consumer; no gateway, no speech-to-text. */
export async function startWorker(config: Config, log: Logger): Promise<WorkerApp> {
  if (!config.queue.redisUrl) {
    throw new ConfigError("parlance worker needs PARLANCE_REDIS_URL (the Redis that the gateways queue analysis jobs on)");
  }
  const metrics = new Metrics();
  const store = await createRepository(config, log);
  let analyzer: Analyzer | null = null;
  let listener: Awaited<ReturnType<typeof startMetricsListener>> | null = null;
  try {
    const { host, workerPort } = config.metrics;
    listener = await startMetricsListener(metrics, { ...config.metrics, port: workerPort }, log).catch((err: unknown) => {
      // Two workers on one host with the default port: say which setting to change.
      throw new ConfigError(`metrics.workerPort (PARLANCE_METRICS_WORKER_PORT) ${host}:${workerPort}: ${(err as Error).message}; give each worker its own port (0 = any free port)`);
    });
    analyzer = await buildAnalyzer(config, store, log, metrics);
    const worker = new AnalysisWorker({ repo: store, analyzer, config, log, metrics });
    await worker.start();
    const a = analyzer;
    const l = listener;
    return {
      worker,
      store,
      analyzer: a,
      metrics,
      metricsUrl: l.url,
      async close(graceMs = config.shutdownGraceMs) {
        await worker.close(graceMs);
        await a.close().catch((err: unknown) => log.error({ err }, "analyzer shutdown failed"));
        await store.close();
        await l.close();
      },
    };
  } catch (err) {
    await analyzer?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await listener?.close();
    throw err;
  }
}
