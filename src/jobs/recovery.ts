// Recovery of sessions a crash left `streaming`: they become `interrupted`, and each with committed
// speech but no session analysis gets one queued, so the learner's work is analysed even though
// the socket died with the process.
//
// One gateway (no Redis): at start-up, every `streaming` session was its own. Several gateways
// sharing a store: a restarting gateway cannot tell its own dead sessions from another gateway's
// live ones, so workers run this in their store sweep with `createdBefore` = now minus the longest
// allowed session (limits.maxSessionMs): older than that, no gateway can still hold it
// (docs/deploy.md).
import type { Repository } from "../store/types.js";
import type { Logger } from "../util/log.js";
import type { AnalysisQueue } from "./types.js";

export async function recoverInterruptedSessions(
  store: Repository,
  queue: Pick<AnalysisQueue, "enqueue">,
  log: Logger,
  opts: { createdBefore?: Date } = {},
): Promise<number> {
  const ids = await store.listSessionIdsByStatus("streaming", 1000, opts.createdBefore);
  if (ids.length === 0) return 0;
  let interrupted = 0;
  let queued = 0;
  for (const id of ids) {
    // One id at a time: only the process whose update moved the session queues its analysis, so
    // several workers sweeping together never queue it twice.
    if ((await store.markInterrupted([id])) === 0) continue;
    interrupted++;
    const [segments, jobs] = await Promise.all([store.getSegments(id), store.listJobs(id)]);
    if (segments.length === 0 || jobs.some((j) => j.scope === "session")) continue;
    await queue.enqueue({ sessionId: id, scope: "session", segmentFrom: null, segmentTo: null });
    queued++;
  }
  if (interrupted > 0) log.info({ interrupted, analyses_queued: queued }, "recovered sessions interrupted by a crash");
  return queued;
}
