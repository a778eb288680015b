// The speech path's metric seam: the stream and scheduler emit src/metrics' typed SttEvents
// (decode ms, audio s, queue wait, skipped partials, loop cuts, guard drops) into whatever sink
// the service was given; the prom-client adapter is src/metrics/prometheus.ts.
import type { MetricsSink, SttEvent } from "../metrics/events.js";

export type SttMetricEvent = SttEvent;

/** What the speech path needs of a MetricsSink: emitting its own events. */
export type SttMetrics = Pick<MetricsSink, "emit">;

export const noSttMetrics: SttMetrics = { emit: () => undefined };
