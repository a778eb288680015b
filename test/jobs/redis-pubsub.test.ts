// The gateway's end of the report channel on a real Redis: every message on it is hostile until
// parsed. A message that is not a report (wrong shape, a report missing fields, not JSON) is
// refused with a log line and a count, and never reaches a session; a valid one is delivered.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { startRedis } from "../helpers/redis.js";
import { tempDir, testConfig } from "../helpers/gateway.js";
import { until } from "../faults/_util.js";
import { makeReport } from "../store/fixtures.js";
import { RecordingSink } from "../../src/metrics/index.js";
import { RedisAnalysisQueue, reportChannel } from "../../src/jobs/redis.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

test("report messages on the Redis channel are parsed: malformed ones are refused and counted, valid ones delivered", { timeout: 60_000 }, async () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const redis = await startRedis();
  cleanup.push(() => redis.stop());
  const dataDir = tempDir();
  const config = testConfig({ PARLANCE_DATA_DIR: dataDir, PARLANCE_REDIS_URL: redis.url, PARLANCE_QUEUE_PREFIX: `ps${process.pid}` }, dataDir);
  const store = await createRepository(config, silentLogger);
  cleanup.push(() => store.close());
  const sink = new RecordingSink();
  const queue = new RedisAnalysisQueue({ repo: store, config, log: silentLogger, metrics: sink });
  cleanup.push(() => queue.close());
  await queue.start();

  const sessionId = randomUUID();
  const got: { jobId: string; report: unknown }[] = [];
  queue.subscribe(sessionId, (jobId, report) => got.push({ jobId, report }));
  const pub = new Redis(redis.url);
  cleanup.push(() => pub.disconnect());
  const channel = reportChannel(config);

  const { fluency: _dropped, ...missingFluency } = makeReport(sessionId);
  const hostile = [
    "not json at all",
    JSON.stringify([sessionId]),
    JSON.stringify({ sessionId, jobId: "j1", report: { nope: true } }),
    JSON.stringify({ sessionId, jobId: "j2", report: missingFluency }),
    JSON.stringify({ sessionId, jobId: 42, report: makeReport(sessionId) }),
    JSON.stringify({ sessionId, jobId: "j3", report: { ...makeReport(sessionId), status: "bogus" } }),
  ];
  for (const text of hostile) await pub.publish(channel, text);
  await pub.publish(channel, JSON.stringify({ sessionId, jobId: "good", report: makeReport(sessionId) }));

  await until("the valid report delivered", () => got.some((g) => g.jobId === "good"), 20_000, 50);
  assert.deepEqual(
    got.map((g) => g.jobId),
    ["good"],
    "only the valid message reached the session",
  );
  assert.equal(sink.of("job.report_message_refused").length, hostile.length, "each refused message is counted");
});
