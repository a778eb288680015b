// The live path's one seam to metrics. The session's modules and the gateway emit the typed
// events of src/metrics/events.ts through a MetricsSink. Until the gateway is handed the new
// src/metrics/prometheus.ts registry (a MetricsSink itself), asMetricsSink adapts the older
// transport/metrics.ts counters; once it is, asMetricsSink returns its argument and the legacy
// half below can be deleted.
import type { MetricEvent, MetricsSink, SampledGauge } from "../metrics/events.js";
import type { Metrics as LegacyMetrics } from "../transport/metrics.js";

export type EmitMetric = (ev: MetricEvent) => void;

export function asMetricsSink(m: LegacyMetrics | MetricsSink): MetricsSink {
  if ("emit" in m && typeof m.emit === "function") return m as MetricsSink;
  const legacy = m as LegacyMetrics;
  return { emit: (e) => emitLegacy(legacy, e), sample: (g, read) => sampleLegacy(legacy, g, read) };
}

function sampleLegacy(m: LegacyMetrics, gauge: SampledGauge, read: () => number): void {
  if (gauge === "send_buffered_bytes") m.setSendBufferedSource(read);
  else if (gauge === "subjects_tracked") m.setSubjectsSource(read);
  else m.setPendingAuthSource(read);
}

function emitLegacy(m: LegacyMetrics, e: MetricEvent): void {
  switch (e.type) {
    case "session.state":
      return m.moveConnection(e.from, e.to);
    case "session.closed":
      return m.closes.inc({ code: String(e.code) });
    case "session.bytes_in":
      return m.bytesIn.inc({ kind: e.kind }, e.bytes);
    case "session.bytes_out":
      return m.bytesOut.inc(e.bytes);
    case "session.message_in":
      return m.messagesIn.inc({ type: e.kind });
    case "session.message_out":
      return m.messagesOut.inc({ type: e.kind });
    case "session.rate_limited":
      return m.rateLimited.inc({ what: e.what });
    case "session.busy":
      return m.busyRejections.inc();
    case "session.audio_dropped":
      return m.droppedAudio.inc({ reason: e.reason }, e.seconds);
    case "session.bad_audio_frame":
      return m.badAudioFrames.inc({ code: e.code });
    case "session.partial_dropped":
      return m.droppedPartials.inc();
    case "session.slow_consumer_closed":
      return m.slowConsumerCloses.inc();
    case "stt.lag":
      return m.lag.observe(e.lagMs / 1000);
    case "stt.final":
      return m.finals.inc();
    case "auth.failure":
      return m.authFailures.inc({ reason: e.reason });
    case "error.handler":
      return m.handlerErrors.inc({ where: e.where });
    case "transport.upgrade_rejected":
      return m.rejected.inc({ reason: e.reason });
    case "transport.request_refused":
      return m.refusedRequests.inc({ status: String(e.status) });
    case "transport.pending_tls":
      return m.pendingTls.set(e.count);
    case "transport.upgrading":
      return m.upgrading.set(e.count);
    default:
      return; // events the live path does not emit
  }
}
