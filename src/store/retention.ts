// Raw-audio retention: kept audio (store.keepAudio) older than store.audioRetentionDays is purged
// at start-up and then periodically. Runs even with keepAudio off, so turning the option off
// still clears what an earlier run kept.
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import type { Repository } from "./types.js";

export interface RetentionHandle {
  /** Resolves after the purge running now, if any, finishes. */
  stop(): Promise<void>;
  /** One purge now; resolves with the number of audio chunks removed. */
  runOnce(now?: Date): Promise<number>;
}

const DAY_MS = 86_400_000;

export function startAudioRetention(
  repo: Repository,
  config: Config,
  logger: Logger,
  opts: { intervalMs?: number } = {},
): RetentionHandle {
  const intervalMs = opts.intervalMs ?? 60 * 60 * 1000;
  let running: Promise<number> | null = null;
  const runOnce = (now: Date = new Date()): Promise<number> => {
    const cutoff = new Date(now.getTime() - config.store.audioRetentionDays * DAY_MS);
    running = repo
      .purgeAudio(cutoff)
      .then((n) => {
        if (n > 0) logger.info({ chunks: n, cutoff: cutoff.toISOString() }, "audio retention: purged");
        return n;
      })
      .catch((e: unknown) => {
        logger.error({ err: e }, "audio retention: purge failed");
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  void runOnce();
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      if (running) await running;
    },
  };
}
