// The one "race a promise against a clock" in parlance. Every caller either needs the value or an
// error naming what was late (withTimeout), or only wants to stop waiting after a grace period
// and learn whether the work finished in time (settleWithin). The timer is always cleared, so a
// fast promise never keeps the event loop alive for the rest of the period.

export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} timed out after ${ms} ms`);
  }
}

/** `p`'s value, or a TimeoutError once `ms` has passed. `p` itself is not cancelled. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Waits for `p` at most `ms`; true when it settled (resolved or rejected) in time. A rejection is
 * not rethrown: callers use this to bound a drain, whose failures they observe elsewhere.
 */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = p.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
