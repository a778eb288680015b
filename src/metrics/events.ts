// What parlance measures, as typed events. Modules receive a MetricsSink through their deps and
// emit facts ("a decode took 140 ms for 3.2 s of audio"); one adapter (prometheus.ts) turns the
// facts into prom-client series, so no module outside src/metrics/ imports prom-client or knows a
// metric's name, and tests read the events a module emitted instead of scraping text.
// Durations are milliseconds and audio is seconds in every event; the adapter converts units.

/** A WebSocket connection's phase, as /metrics counts open connections. */
export type ConnectionState = "awaiting_auth" | "streaming" | "finishing";

/** Speech-to-text, per decode and per stream. */
export type SttEvent =
  /** One engine call finished: how long it ran, how much audio it read, how long it waited for a slot. */
  | { type: "stt.decode"; decodeMs: number; audioSeconds: number; queueWaitMs: number; final: boolean }
  | { type: "stt.decode_failed"; retryable: boolean }
  /** Partial updates merged into one because decoding fell behind (degradation, not loss). */
  | { type: "stt.partials_skipped"; count: number }
  /** A repetition loop cut from a hypothesis. */
  | { type: "stt.loop_cut" }
  /** A segment the hallucination guards refused; `verdict` names the guard. */
  | { type: "stt.guard_drop"; verdict: string }
  /** Audio received but not yet decoded when a transcript event left. */
  | { type: "stt.lag"; lagMs: number }
  /** A committed (final) segment. */
  | { type: "stt.final" };

/** The WebSocket session, from upgrade to close. */
export type SessionEvent =
  /** `from` null: the connection just opened; `to` null: it closed. */
  | { type: "session.state"; from: ConnectionState | null; to: ConnectionState | null }
  | { type: "session.closed"; code: number }
  | { type: "session.bytes_in"; kind: "binary" | "text"; bytes: number }
  | { type: "session.bytes_out"; bytes: number }
  /** A client message by type, or how it was refused (malformed_frame, early, invalid, ...). */
  | { type: "session.message_in"; kind: string }
  | { type: "session.message_out"; kind: string }
  | { type: "session.rate_limited"; what: string }
  /** Refused with busy by admission control. */
  | { type: "session.busy" }
  | { type: "session.audio_dropped"; reason: "backlog" | "rate"; seconds: number }
  | { type: "session.bad_audio_frame"; code: string }
  /** A partial not sent because the client reads too slowly. */
  | { type: "session.partial_dropped" }
  /** Closed (4429) because the client did not read what it was sent. */
  | { type: "session.slow_consumer_closed" };

/** Authentication, on the socket and on REST alike. */
export type AuthEvent = { type: "auth.failure"; reason: string };

/** The HTTPS/wss listener before a session exists. */
export type TransportEvent =
  | { type: "transport.upgrade_rejected"; reason: string }
  | { type: "transport.request_refused"; status: number }
  /** Current count of TCP connections still in the TLS handshake. */
  | { type: "transport.pending_tls"; count: number }
  /** Current count of HTTP upgrades accepted and not yet WebSockets. */
  | { type: "transport.upgrading"; count: number };

/** REST API calls (GET/DELETE /v1/sessions...), by route pattern, never by concrete path. */
export type RestEvent = { type: "rest.request"; route: string; method: string; status: number; durationMs: number };

/** Analysis jobs, wherever they run (in-process queue or `parlance worker`). */
export type JobEvent =
  | { type: "job.enqueued"; scope: "session" | "utterance" }
  /** A runner took the job: how long it waited since it was enqueued (or last scheduled again). */
  | { type: "job.started"; queueWaitMs: number }
  /** `outcome` is the report's llm_status (ok, degraded, ...). */
  | { type: "job.done"; outcome: string; durationMs: number }
  | { type: "job.failed"; durationMs: number }
  | { type: "job.retry_scheduled" }
  /** Jobs waiting, as last counted in the store. */
  | { type: "job.queue_depth"; pending: number };

/** Failures no caller awaits: an exception caught at a network entry point, a background promise. */
export type ErrorEvent =
  /** A bug caught at an entry point (request, upgrade, connection, finish...): the peer got an error, the process went on. */
  | { type: "error.handler"; where: string }
  /** A fire-and-forget promise rejected (util/background.ts); `what` names the work. */
  | { type: "error.background"; what: string };

export type MetricEvent = SttEvent | SessionEvent | AuthEvent | TransportEvent | RestEvent | JobEvent | ErrorEvent;

/** Live state read at scrape time from whoever holds it, instead of being pushed on every change. */
export type SampledGauge = "send_buffered_bytes" | "subjects_tracked" | "pending_auth";

/** What modules receive (constructor/deps injection) to report what they measure. */
export interface MetricsSink {
  emit(event: MetricEvent): void;
  /** Registers `read` for `gauge`; the last registration wins (one gateway per registry). */
  sample(gauge: SampledGauge, read: () => number): void;
}

/** For modules constructed without metrics (tools, tests that do not look). */
export const noMetrics: MetricsSink = {
  emit: () => undefined,
  sample: () => undefined,
};

/** Keeps every event, for tests that assert what a module emitted. */
export class RecordingSink implements MetricsSink {
  readonly events: MetricEvent[] = [];
  readonly samples = new Map<SampledGauge, () => number>();

  emit(event: MetricEvent): void {
    this.events.push(event);
  }

  sample(gauge: SampledGauge, read: () => number): void {
    this.samples.set(gauge, read);
  }

  /** The events of one type, narrowed. */
  of<T extends MetricEvent["type"]>(type: T): Extract<MetricEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<MetricEvent, { type: T }> => e.type === type);
  }

  clear(): void {
    this.events.length = 0;
  }
}

/** Sends every event to each sink (e.g. the prom-client adapter and a test's recorder). */
export function fanOut(...sinks: MetricsSink[]): MetricsSink {
  return {
    emit: (e) => {
      for (const s of sinks) s.emit(e);
    },
    sample: (g, read) => {
      for (const s of sinks) s.sample(g, read);
    },
  };
}
