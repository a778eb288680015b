// One WebSocket connection, from the first frame to the close. The data path reads top to
// bottom: socket -> auth -> audio ingest -> speech stream -> events -> store + socket, and at
// the end transcript -> analysis queue -> report -> socket.
//
// States: awaiting_auth -> verifying -> streaming -> finishing -> closed. A fatal error after
// `ready` still commits what was said and queues the analysis: the learner's work is never
// dropped because the socket went away.
import { randomUUID } from "node:crypto";
import type { WebSocket, RawData } from "ws";
import type { Config } from "../config/index.js";
import type { TokenVerifier, Claims } from "../auth/verifier.js";
import { AuthError } from "../auth/errors.js";
import {
  AuthMessage,
  ClientMessage,
  CloseCode,
  ErrorCodes,
  MAX_AUTH_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  StreamConfig,
  type ErrorCode,
  type ServerMessage,
  type Word,
} from "../protocol/index.js";
import type { SpeechEvent, SpeechStream, SttService } from "../stt/types.js";
import type { Repository } from "../store/types.js";
import type { AnalysisQueue } from "../jobs/types.js";
import type { Metrics, ConnectionState } from "../transport/metrics.js";
import type { Logger } from "../util/log.js";
import { setReceiverMaxPayload, truncateUtf8, type SubjectLedger } from "../transport/ws-limits.js";

export interface AudioIngest {
  /** Validates and converts one binary frame to 16 kHz mono float32. */
  decode(frame: Buffer): Float32Array;
  /** Compressed encodings (opus): the decoder is ready; awaited before `ready` is sent. */
  readonly ready?: Promise<void>;
  /** Compressed encodings: frees the decoder when the session ends. */
  close?(): void;
}
export interface AudioFrameErrorLike {
  code: string;
  message: string;
  fatal: boolean;
}
export type AudioIngestFactory = (cfg: StreamConfig) => AudioIngest;

export interface SessionDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  stt: SttService | null;
  audio: AudioIngestFactory | null;
  store: Repository | null;
  analysis: AnalysisQueue | null;
  /** Set when transcription could not start (e.g. no model): sessions are refused with this message. */
  sttUnavailable?: string | null;
  /** Per-subject state shared by the gateway's sessions (session cap, audio rate). */
  subjects?: SubjectLedger<Session> | null;
  /** Called when the session has a server-side id (after `ready`), and when it is over. */
  onStarted?(s: Session): void;
  onFinished?(s: Session): void;
}

/** A server message before the session stamps its sequence number (Omit distributed over the union). */
type Outgoing = ServerMessage extends infer M ? (M extends unknown ? Omit<M, "seq"> : never) : never;

type State = "awaiting_auth" | "verifying" | "streaming" | "finishing" | "closed";

/** Undecoded audio is 16 kHz mono float32 in the speech stream: 64 bytes per millisecond. */
const UNDECODED_BYTES_PER_MS = (16000 * 4) / 1000;

const isAudioError = (e: unknown): e is AudioFrameErrorLike =>
  typeof e === "object" && e !== null && "code" in e && "fatal" in e && "message" in e;

export class Session {
  id: string | null = null;
  claims: Claims | null = null;
  streamConfig: StreamConfig | null = null;
  private state: State = "awaiting_auth";
  private metricState: ConnectionState | null = "awaiting_auth";
  private seq = 0;
  private timers: NodeJS.Timeout[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private stream: SpeechStream | null = null;
  private ingest: AudioIngest | null = null;
  private pumpDone: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  private readonly log: Logger;
  private segments: { id: number; words: Word[] }[] = [];
  private lastUtteranceSegment = -1;
  private pendingJobs = new Set<string>();
  private clientWantsReport = false;
  private shuttingDown = false;
  private audioBytes = 0;
  private decodedSamples = 0; // 16 kHz: the audio length of compressed input
  private alive = true;
  private finishing: Promise<void> | null = null;
  private readySent = false;
  private killTimer: NodeJS.Timeout | null = null;
  private subjectHeld: string | null = null;
  private droppedMs = 0;
  private rateNoticeSent = false;
  private backlogNoticeAt = -Infinity;
  private reauthInFlight = false;
  private lastReauthAt = -Infinity;
  private reauthNoticeAt = -Infinity;
  private erased = false;
  /** Resolves when the transcript is committed and stored, and the analysis is queued. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    private readonly deps: SessionDeps,
  ) {
    this.log = deps.log.child({ conn: randomUUID().slice(0, 8), ip: remoteAddress });
    this.done = new Promise((r) => (this.resolveDone = r));
    deps.metrics.moveConnection(null, "awaiting_auth");
    setReceiverMaxPayload(ws, MAX_AUTH_MESSAGE_BYTES);
    // Every entry point from the socket is guarded: what it throws ends this connection only.
    ws.on("message", this.guarded("message", (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary)));
    ws.on("close", this.guarded("close", (code: number) => this.onClose(code)));
    ws.on("error", (err) => this.log.debug({ err: err.message }, "socket error"));
    ws.on("pong", () => (this.alive = true));
    ws.on("protocol-error", () => this.deps.metrics.messagesIn.inc({ type: "malformed_frame" }));
    this.timer(deps.config.limits.authTimeoutMs, () => {
      if (this.state === "awaiting_auth" || this.state === "verifying") this.fail("auth_timeout", "no valid auth message in time");
    });
  }

  /** Bytes accepted for sending that the client has not taken yet (what a slow reader costs us). */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get isStreaming(): boolean {
    return this.state === "streaming";
  }

  // ---- inbound -------------------------------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean) {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.deps.metrics.bytesIn.inc({ kind: isBinary ? "binary" : "text" }, buf.length);
    try {
      switch (this.state) {
        case "awaiting_auth":
          return this.onAuthFrame(buf, isBinary);
        case "verifying":
          this.deps.metrics.messagesIn.inc({ type: "early" });
          return this.fail("protocol_violation", "a second message arrived before the auth verdict");
        case "streaming":
        case "finishing":
          return isBinary ? this.onAudio(buf) : this.onControl(buf);
        case "closed":
          return;
      }
    } catch (err) {
      // Nothing a client sends may take the process down; an unexpected failure ends only this session.
      this.internalError("message", err);
    }
  }

  /** A bug met at an entry point: log and count it, end this connection, never the process. */
  private internalError(where: string, err: unknown): void {
    this.deps.metrics.handlerErrors.inc({ where });
    this.log.error({ err, where }, "unexpected error in a connection handler");
    try {
      this.fail("internal_error", "internal error");
    } catch (again) {
      this.log.error({ err: again }, "could not end the connection cleanly; dropping it");
      this.ws.terminate();
    }
  }

  /** Wraps an event, timer or promise callback so that what it throws (or rejects) is internalError. */
  private guarded<A extends unknown[]>(where: string, fn: (...args: A) => unknown): (...args: A) => void {
    return (...args: A) => {
      try {
        const r = fn(...args);
        if (r instanceof Promise) r.catch((err: unknown) => this.internalError(where, err));
      } catch (err) {
        this.internalError(where, err);
      }
    };
  }

  private onAuthFrame(buf: Buffer, isBinary: boolean) {
    if (isBinary) {
      this.deps.metrics.messagesIn.inc({ type: "binary_before_auth" });
      return this.fail("protocol_violation", "the first message must be a text auth message, not binary");
    }
    if (buf.length > MAX_AUTH_MESSAGE_BYTES) return this.fail("frame_too_large", "auth message larger than 16 KiB");
    let json: unknown;
    try {
      json = JSON.parse(buf.toString("utf8"));
    } catch {
      return this.fail("protocol_violation", "the first message must be JSON");
    }
    const parsed = AuthMessage.safeParse(json);
    if (!parsed.success) {
      this.deps.metrics.messagesIn.inc({ type: "invalid_auth" });
      const issue = parsed.error.issues[0];
      return this.fail("protocol_violation", `invalid auth message: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "bad shape"}`);
    }
    this.deps.metrics.messagesIn.inc({ type: "auth" });
    this.state = "verifying";
    this.deps.verifier.verify(parsed.data.token).then(
      this.guarded("auth", (claims: Claims) => this.onVerified(claims, StreamConfig.parse(parsed.data.config ?? {}))),
      this.guarded("auth", (err: unknown) => {
        const reason = err instanceof AuthError ? err.reason : "internal";
        this.deps.metrics.authFailures.inc({ reason });
        this.log.info({ reason }, "authentication refused");
        // Clients learn that auth failed, not why: the reason would help an attacker more than a user.
        if (this.state === "verifying") this.fail("auth_failed", reason === "expired" ? "token expired" : "authentication failed");
      }),
    );
  }

  private async onVerified(claims: Claims, cfg: StreamConfig) {
    if (this.state !== "verifying") return; // timed out or closed meanwhile
    const { stt, audio, store, config } = this.deps;
    if (this.deps.sttUnavailable) return this.fail("stt_unavailable", this.deps.sttUnavailable);
    // Checked and registered in one synchronous step: two sessions verifying at once cannot both pass.
    if (this.deps.subjects) {
      if (!this.deps.subjects.admit(claims.sub, this)) {
        this.deps.metrics.rateLimited.inc({ what: "sessions_per_subject" });
        return this.fail("too_many_sessions", `at most ${config.limits.maxSessionsPerSubject} sessions at once per learner; end one first`);
      }
      this.subjectHeld = claims.sub;
      // A learner whose audio credit is used up (typically a flooder reconnecting after a 4420)
      // is refused before anything is set up for it: no store row, no stream, no decode.
      const wait = this.deps.subjects.waitForCredit(claims.sub);
      if (wait !== null) {
        this.deps.metrics.rateLimited.inc({ what: "audio_credit" });
        return this.fail("rate_limited", `audio credit used up by audio faster than ${config.limits.audioRealtimeRatio}x real time; retry in ${wait} ms`);
      }
    }
    const admission = stt ? stt.admit() : ({ ok: true } as const);
    if (!admission.ok) {
      this.deps.metrics.busyRejections.inc();
      this.log.warn({ reason: admission.reason }, "session refused: busy");
      this.send({ type: "busy", retry_after_ms: admission.retryAfterMs });
      return this.fail("server_busy", `server busy: ${admission.reason}`);
    }
    let ingest: AudioIngest | null = null;
    try {
      ingest = audio ? audio(cfg) : null;
    } catch (e) {
      return this.fail(isAudioError(e) ? "unsupported_audio" : "protocol_violation", e instanceof Error ? e.message : "unsupported audio config");
    }
    if (ingest?.ready) {
      try {
        await ingest.ready;
      } catch (err) {
        ingest.close?.();
        this.log.error({ err }, "audio decoder could not start");
        return this.fail("internal_error", "audio decoder unavailable");
      }
      if (this.state !== "verifying") return void ingest.close?.();
    }
    this.claims = claims;
    this.streamConfig = cfg;
    this.ingest = ingest;
    this.id = randomUUID();
    this.log.setBindings({ session: this.id, sub: claims.sub });
    try {
      await store?.createSession({
        id: this.id,
        subject: claims.sub,
        config: cfg,
        claims: { level: claims.level, locale: claims.locale, scopes: claims.scopes },
        createdAt: new Date().toISOString(),
      });
    } catch (err) {
      this.log.error({ err }, "could not create the session record");
      return this.fail("internal_error", "storage unavailable");
    }
    if (this.state !== "verifying") return;
    this.state = "streaming";
    this.setMetricState("streaming");
    setReceiverMaxPayload(this.ws, config.limits.maxFrameBytes);
    if (stt) {
      this.stream = stt.openStream({ sessionId: this.id, language: cfg.language });
      this.pumpDone = this.pump(this.stream);
    }
    if (this.deps.analysis) this.unsubscribe = this.deps.analysis.subscribe(this.id, this.guarded("report", (jobId: string, report: import("../protocol/report.js").Report) => this.onReport(jobId, report)));
    this.deps.onStarted?.(this);
    this.readySent = true;
    const l = config.limits;
    this.send({
      type: "ready",
      session_id: this.id,
      protocol: PROTOCOL_VERSION,
      subject: claims.sub,
      audio: { encoding: cfg.encoding, sample_rate: cfg.sample_rate, channels: cfg.channels },
      limits: {
        max_frame_bytes: l.maxFrameBytes,
        max_frame_ms: 1000,
        idle_timeout_ms: l.idleTimeoutMs,
        max_session_ms: l.maxSessionMs,
        chunk_ms: 250,
        audio_realtime_ratio: l.audioRealtimeRatio,
        audio_burst_ms: l.audioBurstMs,
      },
      token_expires_at: claims.exp ? new Date(claims.exp * 1000).toISOString() : null,
      engine: { stt: stt?.engineName ?? "none", update_ms: stt?.updateMs ?? 0 },
    });
    this.log.info({ verifier: this.deps.verifier.kind, config: cfg }, "session ready");
    this.touchIdle();
    if (l.maxSessionMs > 0) this.timer(l.maxSessionMs, () => this.fail("session_limit", "maximum session duration reached"));
    if (l.pingIntervalMs > 0) {
      const t = setInterval(
        this.guarded("ping", () => {
          if (!this.alive) return this.ws.terminate(); // dead peer: no pong since the last ping
          this.alive = false;
          this.ws.ping();
        }),
        l.pingIntervalMs,
      );
      this.timers.push(t);
    }
    this.armExpiry(claims);
  }

  private onAudio(buf: Buffer) {
    // An empty frame carries no audio: it neither counts as audio nor keeps the session alive, or
    // a client could hold a transcription slot forever by sending nothing.
    if (buf.length === 0) {
      this.deps.metrics.messagesIn.inc({ type: "empty_audio" });
      return;
    }
    this.deps.metrics.messagesIn.inc({ type: "audio" });
    if (this.state !== "streaming") {
      // After `shutting_down` the client was told; audio still in flight is expected, not a bug.
      if (this.shuttingDown) return;
      return this.error("protocol_violation", "audio after end is ignored", false);
    }
    const l = this.deps.config.limits;
    // Compressed audio: its length is known only once decoded (bounded per frame by the ingest),
    // so the rate and backlog limits below count decoded audio, not bytes.
    let decoded: Float32Array | null = null;
    if (this.streamConfig?.encoding === "opus" && this.ingest) {
      decoded = this.decodeFrame(buf);
      if (!decoded) return;
    }
    const frameMs = decoded ? decoded.length / 16 : this.bytesToMs(buf.length);
    // Rate: a learner's audio may run ahead of real time by the burst, then at most
    // audioRealtimeRatio x real time (one bucket per subject, so reconnecting does not refill it).
    if (this.subjectHeld && this.deps.subjects && !this.deps.subjects.takeAudio(this.subjectHeld, frameMs)) return this.overRate(frameMs);
    this.touchIdle();
    // Memory: undecoded audio per session is bounded in bytes, whatever the decoder's pace.
    if (this.stream && (this.stream.lagMs + frameMs) * UNDECODED_BYTES_PER_MS > l.maxUndecodedAudioBytes) {
      this.deps.metrics.droppedAudio.inc({ reason: "backlog" }, frameMs / 1000);
      const now = performance.now();
      if (now - this.backlogNoticeAt >= 1000) {
        this.backlogNoticeAt = now;
        this.error("audio_dropped", `the server is behind (${this.stream.lagMs} ms of audio not decoded yet): audio dropped until it catches up`, false);
      }
      return;
    }
    this.audioBytes += buf.length;
    if (!this.ingest || !this.stream) return;
    const samples = decoded ?? this.decodeFrame(buf);
    if (!samples) return;
    this.decodedSamples += samples.length;
    if (samples.length > 0) this.stream.pushAudio(samples);
  }

  /** One frame through the ingest; a bad frame is reported (typed error) and gives null. */
  private decodeFrame(buf: Buffer): Float32Array | null {
    try {
      return this.ingest!.decode(buf);
    } catch (e) {
      if (!isAudioError(e)) throw e;
      this.deps.metrics.badAudioFrames.inc({ code: e.code });
      if (e.fatal) this.fail(e.code in ErrorCodes ? (e.code as ErrorCode) : "unsupported_audio", e.message);
      else this.error(e.code in ErrorCodes ? (e.code as ErrorCode) : "bad_audio", `${e.message}; frame skipped`, false);
      return null;
    }
  }

  private bytesToMs(bytes: number): number {
    const c = this.streamConfig;
    if (!c) return 0;
    return (bytes / ((c.encoding === "pcm_f32le" ? 4 : 2) * c.channels * c.sample_rate)) * 1000;
  }

  /**
   * Audio over the learner's rate is dropped; the client is told once (non-fatal rate_limited).
   * A session that goes on to drop more than a quarter of audioBurstMs (5 s by default) is closed
   * (fatal, 4420): what it had committed is kept. Its learner can start a new session once the
   * bucket holds a second of audio again.
   */
  private overRate(frameMs: number) {
    const l = this.deps.config.limits;
    this.droppedMs += frameMs;
    this.deps.metrics.droppedAudio.inc({ reason: "rate" }, frameMs / 1000);
    if (this.droppedMs > l.audioBurstMs / 4) {
      this.deps.metrics.rateLimited.inc({ what: "audio_closed" });
      this.log.warn({ dropped_ms: Math.round(this.droppedMs) }, "audio far faster than real time; closing");
      return this.fail("rate_limited", `audio kept arriving faster than ${l.audioRealtimeRatio}x real time; session closed (what was committed is kept)`);
    }
    if (!this.rateNoticeSent) {
      this.rateNoticeSent = true;
      this.deps.metrics.rateLimited.inc({ what: "audio" });
      this.error(
        "rate_limited",
        `audio arrives faster than ${l.audioRealtimeRatio}x real time (burst ${l.audioBurstMs} ms): frames dropped; send at real time or the session is closed`,
        false,
      );
    }
  }

  private onControl(buf: Buffer) {
    let msg: ClientMessage;
    try {
      const parsed = ClientMessage.safeParse(JSON.parse(buf.toString("utf8")));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "invalid message");
      msg = parsed.data;
    } catch (e) {
      this.deps.metrics.messagesIn.inc({ type: "invalid" });
      // After `ready` a bad control message is the client's bug, not a reason to lose the session.
      return this.error("invalid_message", `message ignored: ${(e as Error).message}`, false);
    }
    this.deps.metrics.messagesIn.inc({ type: msg.type });
    switch (msg.type) {
      case "auth":
        return this.error("invalid_message", "already authenticated; use reauth to refresh the token", false);
      case "flush":
        if (this.state === "streaming") this.stream?.flush();
        return;
      case "end":
        if (this.state !== "streaming") return;
        this.clientWantsReport = true;
        this.finish("end");
        return;
      case "reauth":
        return this.onReauth(msg.token);
    }
  }

  /**
   * One verification at a time and at most one per reauthMinIntervalMs: each may cost a call to
   * the identity backend (JWKS, introspection). Excess reauths are ignored with a non-fatal
   * rate_limited error, itself sent at most once a second.
   */
  private onReauth(token: string) {
    const min = this.deps.config.limits.reauthMinIntervalMs;
    const now = performance.now();
    if (this.reauthInFlight || now - this.lastReauthAt < min) {
      this.deps.metrics.rateLimited.inc({ what: "reauth" });
      if (now - this.reauthNoticeAt >= Math.max(min, 1000)) {
        this.reauthNoticeAt = now;
        this.error("rate_limited", `reauth ignored: one at a time, at most one every ${min} ms; the current token stays in force`, false);
      }
      return;
    }
    this.lastReauthAt = now;
    this.reauthInFlight = true;
    this.deps.verifier
      .verify(token)
      .then(
        this.guarded("reauth", (claims: Claims) => {
          if (this.state === "closed") return;
          if (claims.sub !== this.claims?.sub) return this.fail("auth_failed", "reauth token is for another subject");
          this.claims = claims;
          this.armExpiry(claims);
        }),
        this.guarded("reauth", (err: unknown) => {
          this.deps.metrics.authFailures.inc({ reason: err instanceof AuthError ? err.reason : "internal" });
          this.error("auth_failed", "reauth token refused; the current token stays in force", false);
        }),
      )
      .finally(() => (this.reauthInFlight = false));
  }

  // ---- speech events -> store + socket -------------------------------------------------------

  private async pump(stream: SpeechStream) {
    try {
      for await (const ev of stream) await this.onSpeechEvent(ev);
    } catch (err) {
      this.log.error({ err }, "speech stream failed");
      this.error("transcription_failed", "transcription failed for this session", false);
    }
  }

  private async onSpeechEvent(ev: SpeechEvent) {
    if (this.erased) return; // its owner deleted it: nothing more is stored or sent
    const lag = "lagMs" in ev ? Math.max(0, Math.round(ev.lagMs)) : 0;
    if ("lagMs" in ev) this.deps.metrics.lag.observe(lag / 1000);
    switch (ev.type) {
      case "speech_started":
        return this.send({ type: "speech_started", lag_ms: lag, at: ev.at });
      case "partial":
        return this.send({ type: "partial", lag_ms: lag, text: ev.text, start: ev.start, end: ev.end, words: ev.words });
      case "final": {
        // Stored before it is sent: whatever a client has seen as final survives a crash.
        if (this.deps.store && this.id) {
          await this.deps.store.appendSegment({ sessionId: this.id, segmentId: ev.segmentId, text: ev.text, start: ev.start, end: ev.end, words: ev.words });
        }
        this.segments.push({ id: ev.segmentId, words: ev.words });
        this.deps.metrics.finals.inc();
        return this.send({
          type: "final",
          lag_ms: lag,
          segment_id: ev.segmentId,
          text: ev.text,
          start: ev.start,
          end: ev.end,
          words: ev.words,
          reason: ev.reason,
        });
      }
      case "utterance_end":
        this.send({ type: "utterance_end", lag_ms: lag, at: ev.at });
        if (this.deps.config.analysis.onUtteranceEnd || this.streamConfig?.analyze_utterances) await this.queueUtteranceAnalysis();
        return;
      case "ended":
        return this.send({ type: "ended", lag_ms: lag, text: ev.text, segments: ev.segments, audio_ms: Math.round(ev.audioMs) });
      case "error":
        this.log.warn({ message: ev.message, fatal: ev.fatal }, "transcription error");
        // Fatal: what was committed is kept and analysed as on any other close (fail -> finish).
        if (ev.fatal && this.state === "streaming") return this.fail("transcription_failed", ev.message);
        return this.error("transcription_failed", ev.message, false);
    }
  }

  private async queueUtteranceAnalysis() {
    const last = this.segments.at(-1)?.id ?? -1;
    if (!this.deps.analysis || !this.id || last <= this.lastUtteranceSegment) return;
    const from = this.lastUtteranceSegment + 1;
    this.lastUtteranceSegment = last;
    const jobId = await this.deps.analysis.enqueue({ sessionId: this.id, scope: "utterance", segmentFrom: from, segmentTo: last });
    this.pendingJobs.add(jobId);
    this.send({ type: "analysis_started", job_id: jobId, scope: "utterance" });
  }

  private onReport(jobId: string, report: import("../protocol/report.js").Report) {
    if (!this.pendingJobs.has(jobId)) return;
    this.send({ type: "report", job_id: jobId, report });
    // A provisional report (LLM unreachable, retrying) is followed by the complete one.
    if (report.status === "pending") return;
    this.pendingJobs.delete(jobId);
    if (this.state === "finishing" && this.clientWantsReport && this.pendingJobs.size === 0) this.close(CloseCode.normal, "done");
  }

  // ---- ending ----------------------------------------------------------------------------------

  /**
   * Commits everything pending, stores it, and queues the session analysis. Idempotent. Runs for
   * `end`, for fatal errors after `ready`, for client disconnects and for server shutdown.
   */
  finish(why: string): Promise<void> {
    if (this.finishing) return this.finishing;
    if (this.state === "awaiting_auth" || this.state === "verifying") {
      this.state = "closed";
      this.resolveDone();
      return (this.finishing = Promise.resolve());
    }
    this.state = "finishing";
    this.setMetricState(this.ws.readyState === this.ws.OPEN ? "finishing" : null);
    this.clearIdle();
    this.finishing = (async () => {
      this.stream?.end();
      this.ingest?.close?.();
      await this.pumpDone;
      const { store, analysis } = this.deps;
      try {
        await store?.updateSession(this.id!, { status: "ended", endedAt: new Date().toISOString(), audioMs: this.audioMsReceived() });
      } catch (err) {
        this.log.error({ err }, "could not mark the session ended");
      }
      const last = this.segments.at(-1)?.id ?? -1;
      if (analysis && (this.clientWantsReport || last > this.lastUtteranceSegment || this.segments.length === 0)) {
        try {
          const jobId = await analysis.enqueue({ sessionId: this.id!, scope: "session", segmentFrom: null, segmentTo: null });
          this.pendingJobs.add(jobId);
          this.send({ type: "analysis_started", job_id: jobId, scope: "session" });
        } catch (err) {
          this.log.error({ err }, "could not queue the analysis");
          this.error("analysis_failed", "analysis could not be queued; the transcript is stored", false);
        }
      }
      this.log.info({ why, segments: this.segments.length, audio_ms: this.audioMsReceived() }, "session input ended");
      // On shutdown the close is 1001, sent by shutdown() once this commit is done.
      if (!this.shuttingDown && (!analysis || !this.clientWantsReport)) this.close(CloseCode.normal, "done");
    })()
      .catch((err: unknown) => {
        this.deps.metrics.handlerErrors.inc({ where: "finish" });
        this.log.error({ err }, "ending the session failed");
        this.close(CloseCode.internalError, "internal error");
      })
      .finally(() => this.resolveDone());
    return this.finishing;
  }

  private audioMsReceived(): number {
    const c = this.streamConfig;
    if (!c) return 0;
    if (c.encoding === "opus") return Math.round(this.decodedSamples / 16);
    const bytesPerSample = c.encoding === "pcm_f32le" ? 4 : 2;
    return Math.round((this.audioBytes / (bytesPerSample * c.channels * c.sample_rate)) * 1000);
  }

  /**
   * Server shutdown: tell the client first (so it stops sending), commit and persist (the client
   * still gets its last finals, `ended` and `analysis_started`), then close with 1001.
   */
  async shutdown(): Promise<void> {
    if (this.state === "closed") return;
    if (this.state === "awaiting_auth" || this.state === "verifying") return this.fail("shutting_down", "server shutting down");
    this.shuttingDown = true;
    this.error("shutting_down", "server shutting down; your transcript is saved and the report will be available over REST", false);
    this.clientWantsReport = false;
    await this.finish("shutdown");
    this.close(CloseCode.shuttingDown, "server shutting down");
  }

  /**
   * Its owner deleted the session over REST while it was live: end it without keeping anything,
   * and tell the client so (error session_deleted, close 4404), never "transcript stored". A
   * commit already under way (after `end`) is let finish first; the caller erases after this.
   */
  async erase(): Promise<void> {
    if (this.erased) return this.done;
    this.erased = true;
    this.log.info("session deleted by its owner while live; ending it");
    if (this.finishing) await this.finishing;
    else {
      this.state = "closed";
      this.clearTimers();
      this.stream?.close();
      await this.pumpDone;
    }
    this.state = "closed";
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.pendingJobs.clear();
    this.send({ type: "error", code: "session_deleted", message: "this session was deleted at its owner's request; nothing of it is kept", fatal: true });
    this.close(CloseCode.sessionDeleted, "session deleted");
    this.resolveDone();
  }

  // ---- outbound ------------------------------------------------------------------------------

  private send(msg: Outgoing) {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const l = this.deps.config.limits;
    const buffered = this.ws.bufferedAmount;
    // A client that stops reading must not grow our memory: drop revisable partials first, and
    // close when even committed results no longer fit (they are in the store regardless).
    // Non-fatal errors count too: a client that sends bad messages and never reads the answers
    // would otherwise queue them without bound. Only the fatal error that precedes a close passes.
    if (msg.type === "partial" && buffered > l.maxBufferedBytes / 4) {
      this.deps.metrics.droppedPartials.inc();
      return;
    }
    if (buffered > l.maxBufferedBytes && !(msg.type === "error" && msg.fatal)) {
      this.log.warn({ buffered }, "client reads too slowly; closing");
      this.deps.metrics.slowConsumerCloses.inc();
      this.fail("slow_consumer", "client is not reading; connection closed (results are stored)");
      return;
    }
    const full = msg.type === "busy" ? msg : { ...msg, seq: this.seq++ };
    const text = JSON.stringify(full);
    this.deps.metrics.messagesOut.inc({ type: msg.type });
    this.deps.metrics.bytesOut.inc(text.length);
    this.ws.send(text, (err) => err && this.log.debug({ err: err.message }, "send failed"));
  }

  private error(code: ErrorCode, message: string, fatal: boolean) {
    this.send({ type: "error", code, message, fatal });
    if (fatal) this.close(ErrorCodes[code] ?? CloseCode.protocolViolation, message);
  }

  /** A fatal error: tell the client, close the socket; after `ready`, keep what was said. */
  fail(code: ErrorCode, message: string) {
    if (this.state === "closed") return;
    this.log.info({ code }, message);
    const after = this.state === "streaming" || this.state === "finishing";
    this.error(code, message, true);
    if (after) void this.finish(code);
    else this.markClosed();
  }

  private close(code: number, reason: string) {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, truncateUtf8(reason));
      // Before `ready` the peer is nobody yet: it gets preAuthCloseGraceMs to answer the close
      // frame, not ws's 30 s, so a connection that never authenticates holds its slot for the
      // auth deadline plus that grace at most.
      if (!this.readySent && !this.killTimer) {
        this.killTimer = setTimeout(() => this.ws.terminate(), this.deps.config.limits.preAuthCloseGraceMs);
        this.killTimer.unref();
      }
    }
  }

  private onClose(code: number) {
    this.deps.metrics.closes.inc({ code: String(code) });
    if (this.killTimer) clearTimeout(this.killTimer);
    this.clearTimers();
    this.setMetricState(null);
    if (this.state === "streaming") void this.finish("client disconnected");
    else if (this.state !== "finishing") this.markClosed();
    void this.done.then(
      this.guarded("close", () => {
        this.unsubscribe?.();
        this.releaseSubject();
        this.deps.onFinished?.(this);
      }),
    );
  }

  private releaseSubject() {
    if (!this.subjectHeld) return;
    this.deps.subjects?.release(this.subjectHeld, this);
    this.subjectHeld = null;
  }

  /** The session is over; the socket may still be closing (its gauge moves on the socket's close). */
  private markClosed() {
    if (this.state === "finishing") return;
    this.ingest?.close?.();
    this.state = "closed";
    this.clearTimers();
    this.resolveDone();
  }

  // ---- timers --------------------------------------------------------------------------------

  private timer(ms: number, fn: () => void) {
    const t = setTimeout(this.guarded("timer", fn), ms);
    this.timers.push(t);
  }

  private touchIdle() {
    const ms = this.deps.config.limits.idleTimeoutMs;
    if (ms <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(this.guarded("timer", () => this.fail("idle_timeout", `no audio for ${ms} ms`)), ms);
  }

  private clearIdle() {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private armExpiry(claims: Claims) {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (!claims.exp || this.state === "closed") return;
    // Policy: a session may not outlive its token. Clients refresh with `reauth`; at expiry the
    // server commits what was said, queues the analysis and closes with 4401.
    const ms = claims.exp * 1000 - Date.now() + this.deps.config.limits.tokenExpiryGraceMs;
    this.expiryTimer = setTimeout(
      this.guarded("timer", () => this.fail("token_expired", "token expired; send reauth before exp to continue")),
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
  }

  private clearTimers() {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.clearIdle();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
  }

  private setMetricState(to: ConnectionState | null) {
    if (this.metricState === to) return;
    this.deps.metrics.moveConnection(this.metricState, to);
    this.metricState = to;
  }
}
