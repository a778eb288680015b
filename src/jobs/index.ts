// The analysis-queue registry: which queue this process uses follows from the configuration
// (queue.redisUrl set: Redis; else the in-process queue on the store). A new queue is one file
// exporting a QueueEntry and one line here.
import type { Config } from "../config/index.js";
import { localQueue } from "./local.js";
import { redisQueue } from "./redis.js";
import type { QueueEntry } from "./types.js";

export type * from "./types.js";

const queues = new Map<string, QueueEntry>([
  ["local", localQueue],
  ["redis", redisQueue],
]);

/** The registry name the configuration selects. */
export function queueName(config: Config): string {
  return config.queue.redisUrl ? "redis" : "local";
}

export function queueFor(config: Config): QueueEntry {
  const name = queueName(config);
  const q = queues.get(name);
  if (!q) throw new Error(`analysis queue "${name}" is not registered`);
  return q;
}

/** Adds (or replaces) a queue implementation under `name`. */
export function registerQueue(name: string, entry: QueueEntry): void {
  queues.set(name, entry);
}
