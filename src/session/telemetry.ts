// The session's one seam to metrics: its modules emit typed events; the adapter here turns them
// into the gateway's prom-client counters (transport/metrics.ts). When typed metric events land
// in src/metrics/, only this file changes.
import type { ConnectionState, Metrics } from "../transport/metrics.js";

export type SessionMetricEvent =
  | { kind: "connection"; from: ConnectionState | null; to: ConnectionState | null }
  | { kind: "message_in"; type: string }
  | { kind: "bytes_in"; binary: boolean; bytes: number }
  | { kind: "message_out"; type: string; bytes: number }
  | { kind: "handler_error"; where: string }
  | { kind: "auth_failure"; reason: string }
  | { kind: "rate_limited"; what: "sessions_per_subject" | "audio_credit" | "audio" | "audio_closed" | "reauth" }
  | { kind: "busy" }
  | { kind: "audio_dropped"; reason: "rate" | "backlog"; seconds: number }
  | { kind: "bad_audio_frame"; code: string }
  | { kind: "lag"; seconds: number }
  | { kind: "final" }
  | { kind: "partial_dropped" }
  | { kind: "slow_consumer" }
  | { kind: "closed"; code: number };

export type EmitMetric = (ev: SessionMetricEvent) => void;

export function promSessionMetrics(m: Metrics): EmitMetric {
  return (ev) => {
    switch (ev.kind) {
      case "connection":
        return m.moveConnection(ev.from, ev.to);
      case "message_in":
        return m.messagesIn.inc({ type: ev.type });
      case "bytes_in":
        return m.bytesIn.inc({ kind: ev.binary ? "binary" : "text" }, ev.bytes);
      case "message_out":
        m.messagesOut.inc({ type: ev.type });
        return m.bytesOut.inc(ev.bytes);
      case "handler_error":
        return m.handlerErrors.inc({ where: ev.where });
      case "auth_failure":
        return m.authFailures.inc({ reason: ev.reason });
      case "rate_limited":
        return m.rateLimited.inc({ what: ev.what });
      case "busy":
        return m.busyRejections.inc();
      case "audio_dropped":
        return m.droppedAudio.inc({ reason: ev.reason }, ev.seconds);
      case "bad_audio_frame":
        return m.badAudioFrames.inc({ code: ev.code });
      case "lag":
        return m.lag.observe(ev.seconds);
      case "final":
        return m.finals.inc();
      case "partial_dropped":
        return m.droppedPartials.inc();
      case "slow_consumer":
        return m.slowConsumerCloses.inc();
      case "closed":
        return m.closes.inc({ code: String(ev.code) });
    }
  };
}
