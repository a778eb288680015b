// The one way to start work nobody awaits. A rejection is logged with what the work was and
// counted (parlance_background_failures_total{what}), never left to become an unhandled rejection
// that only the process guard would see, and never silently swallowed.
import type { MetricsSink } from "../metrics/events.js";
import type { Logger } from "./log.js";

/**
 * Runs `work` (a promise, or a function returning one: a synchronous throw counts as a failure
 * too) without awaiting it. `what` is a short stable label ("session store write", ...): it
 * becomes a metric label, so never put ids or messages in it.
 */
export function background(work: Promise<unknown> | (() => Promise<unknown>), what: string, log: Pick<Logger, "warn">, sink?: MetricsSink): void {
  let p: Promise<unknown>;
  try {
    p = typeof work === "function" ? work() : work;
  } catch (err) {
    p = Promise.reject(err);
  }
  p.catch((err: unknown) => {
    try {
      log.warn({ err, what }, "background work failed");
      sink?.emit({ type: "error.background", what });
    } catch {
      // A broken logger or sink must not turn a handled failure into an unhandled one.
    }
  });
}
