// The analysis queue is chosen through the queue registry: a queue registered alone is started by
// the composition root's one call (queueFor(config).start), whatever it is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { queueFor, queueName, registerQueue, type AnalysisQueue } from "../../src/jobs/index.js";
import { localQueue } from "../../src/jobs/local.js";
import { redisQueue } from "../../src/jobs/redis.js";
import { ConfigSchema } from "../../src/config/index.js";
import { silentLogger } from "../../src/util/log.js";

test("queue.redisUrl selects the Redis entry, its absence the local one; a replaced entry is what starts", async () => {
  const local = ConfigSchema.parse({});
  const redis = ConfigSchema.parse({ queue: { redisUrl: "redis://127.0.0.1:1" } });
  assert.equal(queueName(local), "local");
  assert.equal(queueFor(local), localQueue);
  assert.equal(queueName(redis), "redis");
  assert.equal(queueFor(redis), redisQueue);

  const stopped: number[] = [];
  const fake: AnalysisQueue = { enqueue: async () => "job", subscribe: () => () => undefined, close: async () => undefined };
  registerQueue("local", { start: async () => ({ queue: fake, stop: async (g) => void stopped.push(g) }) });
  try {
    const running = await queueFor(local).start({ repo: null as never, analyzer: null, config: local, log: silentLogger });
    assert.equal(await running.queue.enqueue({ sessionId: "s", scope: "session", segmentFrom: null, segmentTo: null }), "job");
    await running.stop(5);
    assert.deepEqual(stopped, [5]);
  } finally {
    registerQueue("local", localQueue);
  }
});
