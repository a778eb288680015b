// Process-wide tally of exceptions that escaped every handler (uncaughtException,
// unhandledRejection). The process guard (cli/lifecycle.ts) records them; every Metrics registry
// reports the tally as parlance_escaped_errors_total, so an operator can alert on a number that
// should stay 0.
const tally = new Map<string, number>();

export function recordEscaped(kind: string): void {
  tally.set(kind, (tally.get(kind) ?? 0) + 1);
}

export function escapedCounts(): ReadonlyMap<string, number> {
  return tally;
}
