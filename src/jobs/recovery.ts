// Start-up recovery for a single gateway: sessions still marked `streaming` were cut off by a
// crash. They become `interrupted`, and each with committed speech but no session analysis gets
// one queued, so the learner's work is analysed even though the socket died with the process.
// Not for several gateways sharing one store: a restarting gateway cannot tell its own dead
// sessions from another gateway's live ones (docs/deploy.md).
import type { Repository } from "../store/types.js";
import type { Logger } from "../util/log.js";
import type { AnalysisQueue } from "./types.js";

export async function recoverInterruptedSessions(store: Repository, queue: AnalysisQueue, log: Logger): Promise<number> {
  const ids = await store.listSessionIdsByStatus("streaming");
  if (ids.length === 0) return 0;
  await store.markInterrupted(ids);
  let queued = 0;
  for (const id of ids) {
    const [segments, jobs] = await Promise.all([store.getSegments(id), store.listJobs(id)]);
    if (segments.length === 0 || jobs.some((j) => j.scope === "session")) continue;
    await queue.enqueue({ sessionId: id, scope: "session", segmentFrom: null, segmentTo: null });
    queued++;
  }
  log.info({ interrupted: ids.length, analyses_queued: queued }, "recovered sessions interrupted by a restart");
  return queued;
}
