// The speech path's metric events (decode ms, audio s, queue wait, skipped partials, loop cuts,
// guard drops). The stream and scheduler emit facts into one sink; the prom-client adapter lives
// elsewhere (src/metrics/ once it is on main), so nothing here knows a metric's name.
export type SttMetricEvent =
  | { type: "stt.decode"; decodeMs: number; audioSeconds: number; queueWaitMs: number; final: boolean }
  | { type: "stt.decode_failed"; retryable: boolean }
  | { type: "stt.partials_skipped"; count: number }
  | { type: "stt.loop_cut" }
  | { type: "stt.guard_drop"; verdict: string };

export interface SttMetrics {
  emit(event: SttMetricEvent): void;
}

export const noSttMetrics: SttMetrics = { emit: () => undefined };
