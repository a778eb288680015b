// Shutting down while Redis is unreachable: the worker and the gateway-side queue still close
// (their Redis connections are cut after queue.connectTimeoutMs) instead of waiting for a Redis
// that is not coming back until the hard exit kills the process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis.js";
import { tempDir, testConfig } from "../helpers/gateway.js";
import { startWorker } from "../../src/app.js";
import { RedisAnalysisQueue } from "../../src/jobs/redis.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

test("worker and queue close with Redis gone", { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const dataDir = tempDir();
  const config = testConfig(
    {
      PARLANCE_DATA_DIR: dataDir,
      PARLANCE_REDIS_URL: redis.url,
      PARLANCE_QUEUE_PREFIX: `down${process.pid}`,
      PARLANCE_LLM_PROVIDER: "fake",
      PARLANCE_METRICS_WORKER_PORT: "0",
      PARLANCE_QUEUE_CONNECT_TIMEOUT_MS: "300",
    },
    dataDir,
  );
  const worker = await startWorker(config, silentLogger);
  const store = await createRepository(config, silentLogger);
  const queue = new RedisAnalysisQueue({ repo: store, config, log: silentLogger });
  await queue.start();
  await redis.stop();
  let closed = 0;
  await Promise.all([worker.close(0), queue.close()].map((p) => p.then(() => closed++)));
  assert.equal(closed, 2, "both closed");
  await store.close();
});
