// One WebSocket connection, from the first frame to the close: the state machine (states.ts) and
// the routing between its collaborators, each with one job: handshake.ts (who the peer is),
// admission.ts (may it start, what it holds), audio-intake.ts (frames -> speech stream),
// speech-pump.ts (speech events -> sink and socket), transcript-sink.ts (store, then send), analysis-tracker.ts (its analysis jobs), outbound.ts
// (the socket, bounded), timers.ts (its clocks). Metrics are typed events (src/metrics/events.ts). The data path reads top to bottom: socket ->
// auth -> audio ingest -> speech stream -> events -> store + socket, and at the end transcript ->
// analysis queue -> report -> socket.
//
// A fatal error after `ready` still commits what was said and queues the analysis: the learner's
// work is never dropped because the socket went away. Every path ends in `closed`, which aborts
// the speech stream's decode and stops every clock.
import { randomUUID } from "node:crypto";
import type { WebSocket, RawData } from "ws";
import type { Claims } from "../auth/verifier.js";
import { ClientMessage, CloseCode, ErrorCodes, MAX_AUTH_MESSAGE_BYTES, type ErrorCode, type StreamConfig } from "../protocol/index.js";
import type { Report } from "../protocol/report.js";
import type { UnsequencedMessage } from "../protocol/speech-events.js";
import type { SpeechStream } from "../stt/types.js";
import type { ConnectionState } from "../transport/metrics.js";
import { background } from "../util/background.js";
import type { Logger } from "../util/log.js";
import { Admission } from "./admission.js";
import { AnalysisTracker } from "./analysis-tracker.js";
import { AudioIntake } from "./audio-intake.js";
import { makeGuard, type Guard } from "./guard.js";
import { Handshake, parseAuthFrame } from "./handshake.js";
import { Outbound } from "./outbound.js";
import { readyMessage } from "./ready.js";
import { StateMachine, type SessionState } from "./states.js";
import { SpeechPump } from "./speech-pump.js";
import { SessionClocks } from "./timers.js";
import { TranscriptSink } from "./transcript-sink.js";
import type { AudioIngest, EmitMetric, SessionDeps } from "./types.js";

export type { AudioIngest, AudioFrameErrorLike, AudioIngestFactory, SessionDeps } from "./types.js";

export class Session {
  id: string | null = null;
  claims: Claims | null = null;
  streamConfig: StreamConfig | null = null;
  /** Resolves when the transcript is committed and stored and the analysis queued, or when the session closed before `ready`. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly log: Logger;
  private readonly emit: EmitMetric;
  private readonly guard: Guard;
  private readonly phase = new StateMachine();
  private readonly out: Outbound;
  private readonly handshake: Handshake;
  private readonly admission: Admission;
  private readonly sink: TranscriptSink;
  private readonly clocks: SessionClocks;
  private intake: AudioIntake | null = null;
  private tracker: AnalysisTracker | null = null;
  private stream: SpeechStream | null = null;
  private ingest: AudioIngest | null = null;
  private pumpDone: Promise<void> = Promise.resolve();
  private gauge: ConnectionState | null = null;
  private ending: Promise<void> | null = null;
  private committed = false;
  private readySent = false;
  private pump: SpeechPump | null = null;
  private clientWantsReport = false;
  private shuttingDown = false;
  private erased = false;

  constructor(
    private readonly ws: WebSocket, // held for the socket-level tests (test/client/sdk.test.ts terminates it)
    readonly remoteAddress: string,
    private readonly deps: SessionDeps<Session>,
  ) {
    const l = deps.config.limits;
    this.log = deps.log.child({ conn: randomUUID().slice(0, 8), ip: remoteAddress });
    this.done = new Promise((r) => (this.resolveDone = r));
    this.emit = (e) => deps.metrics.emit(e);
    this.guard = makeGuard((where, err) => this.internalError(where, err));
    this.out = new Outbound(ws, l, this.emit, this.log);
    this.handshake = new Handshake({ verifier: deps.verifier, limits: l, emit: this.emit, log: this.log, guard: this.guard }, this.handshakeHost());
    const admissionDeps = { stt: deps.stt, audio: deps.audio, sttUnavailable: deps.sttUnavailable ?? null, subjects: deps.subjects ?? null, limits: l, emit: this.emit, log: this.log };
    this.admission = new Admission(admissionDeps, this);
    this.sink = new TranscriptSink(deps.store, this.log);
    this.clocks = new SessionClocks(l, this.clockHandlers(), this.guard);
    this.moveGauge("awaiting_auth");
    this.out.setMaxPayload(MAX_AUTH_MESSAGE_BYTES);
    // Every entry point from the socket is guarded: what it throws ends this connection only.
    ws.on("message", this.guard("message", (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary)));
    ws.on("close", this.guard("close", (code: number) => this.onClose(code)));
    ws.on("error", (err) => this.log.debug({ err: err.message }, "socket error"));
    ws.on("pong", () => this.clocks.pong());
    ws.on("protocol-error", () => this.emit({ type: "session.message_in", kind: "malformed_frame" }));
  }

  /** Bytes accepted for sending that the client has not taken yet (what a slow reader costs us). */
  get bufferedBytes(): number {
    return this.out.bufferedBytes;
  }

  get isStreaming(): boolean {
    return this.phase.is("streaming");
  }

  get state(): SessionState {
    return this.phase.state;
  }

  // ---- inbound -------------------------------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean) {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.emit({ type: "session.bytes_in", kind: isBinary ? "binary" : "text", bytes: buf.length });
    if (this.erased) return;
    switch (this.phase.state) {
      case "awaiting_auth":
        return this.onAuthFrame(buf, isBinary);
      case "verifying":
        this.emit({ type: "session.message_in", kind: "early" });
        return this.fail("protocol_violation", "a second message arrived before the auth verdict");
      case "streaming":
      case "finishing":
        return isBinary ? this.onAudio(buf) : this.onControl(buf);
      case "closed":
        return;
    }
  }

  /** A bug met at an entry point: log and count it, end this connection, never the process. */
  private internalError(where: string, err: unknown): void {
    this.emit({ type: "error.handler", where });
    this.log.error({ err, where }, "unexpected error in a connection handler");
    try {
      this.fail("internal_error", "internal error");
    } catch (again) {
      this.log.error({ err: again }, "could not end the connection cleanly; dropping it");
      this.out.terminate();
    }
  }

  private onAuthFrame(buf: Buffer, isBinary: boolean) {
    const v = parseAuthFrame(buf, isBinary);
    if (v.ok || v.counted) this.emit({ type: "session.message_in", kind: v.ok ? "auth" : v.counted! });
    if (!v.ok) return this.fail(v.code, v.message);
    this.phase.move("verifying");
    background(this.handshake.verify(v.token).then(this.guard("auth", (claims: Claims | null) => claims && this.onVerified(claims, v.config))), "session auth", this.log, this.deps.metrics);
  }

  private async onVerified(claims: Claims, cfg: StreamConfig) {
    if (!this.phase.is("verifying")) return; // timed out or closed meanwhile
    const verdict = await this.admission.admit(claims, cfg);
    if (!verdict.ok) {
      if (verdict.retryAfterMs !== undefined) this.send({ type: "busy", retry_after_ms: verdict.retryAfterMs });
      return this.fail(verdict.code, verdict.message);
    }
    if (!this.phase.is("verifying")) return void verdict.ingest?.close?.();
    this.claims = claims;
    this.streamConfig = cfg;
    this.ingest = verdict.ingest;
    this.id = randomUUID();
    this.log.setBindings({ session: this.id, sub: claims.sub });
    if (!(await this.sink.open(this.id, claims, cfg))) return this.fail("internal_error", "storage unavailable");
    // Closed while the record was written: it must not stay "streaming" (recovery would analyse it).
    if (!this.phase.is("verifying")) return this.sink.close(0);
    this.startStreaming(this.id, claims, cfg);
  }

  private startStreaming(id: string, claims: Claims, cfg: StreamConfig) {
    const { stt, config, analysis } = this.deps;
    this.phase.move("streaming");
    this.moveGauge("streaming");
    this.out.setMaxPayload(config.limits.maxFrameBytes);
    if (analysis) {
      this.tracker = new AnalysisTracker(analysis, id);
      this.tracker.subscribe(this.guard("report", (jobId: string, report: Report) => this.onReport(jobId, report)));
    }
    if (stt) {
      this.stream = stt.openStream({ sessionId: id, language: cfg.language });
      this.pump = this.speechPump(cfg);
      this.pumpDone = this.pump.run(this.stream);
    }
    const subjects = this.deps.subjects ?? null;
    this.intake = new AudioIntake({ cfg, ingest: this.ingest, stream: this.stream, subjects, subject: this.admission.subject, limits: config.limits, emit: this.emit, log: this.log });
    this.deps.onStarted?.(this);
    this.readySent = true;
    this.send(readyMessage(id, claims, cfg, config.limits, stt));
    this.log.info({ verifier: this.deps.verifier.kind, config: cfg }, "session ready");
    this.clocks.start();
    this.handshake.authenticated(claims);
  }

  private onAudio(buf: Buffer) {
    // An empty frame carries no audio: it neither counts as audio nor keeps the session alive, or
    // a client could hold a transcription slot forever by sending nothing.
    if (buf.length === 0) return this.emit({ type: "session.message_in", kind: "empty_audio" });
    this.emit({ type: "session.message_in", kind: "audio" });
    if (!this.phase.is("streaming") || !this.intake) {
      // After `shutting_down` the client was told; audio still in flight is expected, not a bug.
      if (this.shuttingDown) return;
      return this.notice("protocol_violation", "audio after end is ignored");
    }
    const v = this.intake.accept(buf);
    if (v.alive) this.clocks.touch();
    if (v.error?.fatal) this.fail(v.error.code, v.error.message);
    else if (v.error) this.notice(v.error.code, v.error.message);
  }

  private onControl(buf: Buffer) {
    let msg: ClientMessage;
    try {
      const parsed = ClientMessage.safeParse(JSON.parse(buf.toString("utf8")));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "invalid message");
      msg = parsed.data;
    } catch (e) {
      this.emit({ type: "session.message_in", kind: "invalid" });
      // After `ready` a bad control message is the client's bug, not a reason to lose the session.
      return this.notice("invalid_message", `message ignored: ${(e as Error).message}`);
    }
    this.emit({ type: "session.message_in", kind: msg.type });
    switch (msg.type) {
      case "auth":
        return this.notice("invalid_message", "already authenticated; use reauth to refresh the token");
      case "flush":
        if (this.phase.is("streaming")) this.stream?.flush();
        return;
      case "end":
        if (!this.phase.is("streaming")) return;
        this.clientWantsReport = true;
        background(this.finish("end"), "session finish", this.log, this.deps.metrics);
        return;
      case "reauth":
        return this.handshake.reauth(msg.token);
    }
  }

  private speechPump(cfg: StreamConfig): SpeechPump {
    const perUtterance = this.deps.config.analysis.onUtteranceEnd || cfg.analyze_utterances;
    const deps = { sink: this.sink, utteranceJobs: perUtterance ? this.tracker : null, emit: this.emit, log: this.log };
    return new SpeechPump(deps, {
      send: (msg) => this.send(msg),
      notice: (code, message) => this.notice(code, message),
      fail: (code, message) => this.fail(code, message),
      streaming: () => this.phase.is("streaming"),
      erased: () => this.erased,
    });
  }

  private handshakeHost() {
    return {
      fail: (code: ErrorCode, message: string) => this.fail(code, message),
      notice: (code: ErrorCode, message: string) => this.notice(code, message),
      reauthed: (claims: Claims) => void (this.claims = claims),
      subject: () => this.claims?.sub ?? null,
    };
  }

  private clockHandlers() {
    return {
      idle: (ms: number) => this.fail("idle_timeout", `no audio for ${ms} ms`),
      sessionLimit: () => this.fail("session_limit", "maximum session duration reached"),
      ping: () => this.out.ping(),
      dead: () => this.out.terminate(), // no pong since the last ping
    };
  }

  // ---- reports -> socket ---------------------------------------------------------------------

  private onReport(jobId: string, report: Report) {
    const verdict = this.tracker?.judge(jobId, report) ?? "not_ours";
    if (verdict === "not_ours") return;
    this.send({ type: "report", job_id: jobId, report });
    if (verdict === "complete" && this.reportsDone()) this.endSocket(CloseCode.normal, "done");
  }

  /** The commit is over and no report the client waits for is still coming. */
  private reportsDone(): boolean {
    return this.committed && this.phase.is("finishing") && this.clientWantsReport && (this.tracker?.idle ?? true);
  }

  // ---- ending ----------------------------------------------------------------------------------

  /**
   * Commits everything pending, stores it, and queues the session analysis. Idempotent. Runs for
   * `end`, for fatal errors after `ready`, for client disconnects and for server shutdown.
   */
  finish(why: string): Promise<void> {
    if (this.ending) return this.ending;
    if (!this.phase.is("streaming")) {
      this.toClosed();
      return (this.ending = Promise.resolve());
    }
    this.phase.move("finishing");
    this.moveGauge(this.out.isOpen ? "finishing" : null);
    this.clocks.stopIdle();
    this.ending = this.commit(why)
      .catch((err: unknown) => {
        this.emit({ type: "error.handler", where: "finish" });
        this.log.error({ err }, "ending the session failed");
        this.endSocket(CloseCode.internalError, "internal error");
      })
      .finally(() => {
        this.committed = true;
        this.resolveDone();
        this.closeIfOver();
      });
    return this.ending;
  }

  private async commit(why: string): Promise<void> {
    this.stream?.end();
    this.ingest?.close?.();
    await this.pumpDone;
    const audioMs = this.intake?.audioMs ?? 0;
    await this.sink.close(audioMs);
    if (this.tracker?.sessionJobDue(this.clientWantsReport, this.sink.lastSegmentId)) await this.queueSessionAnalysis(this.tracker);
    this.log.info({ why, segments: this.sink.segments.length, audio_ms: audioMs }, "session input ended");
    // On shutdown the close is 1001, sent by shutdown() once this commit is done.
    if (!this.shuttingDown && (!this.clientWantsReport || (this.tracker?.idle ?? true))) this.endSocket(CloseCode.normal, "done");
  }

  private async queueSessionAnalysis(tracker: AnalysisTracker): Promise<void> {
    try {
      const jobId = await tracker.queueSession();
      this.send({ type: "analysis_started", job_id: jobId, scope: "session" });
    } catch (err) {
      this.log.error({ err }, "could not queue the analysis");
      this.notice("analysis_failed", "analysis could not be queued; the transcript is stored");
    }
  }

  /**
   * Server shutdown: tell the client first (so it stops sending), commit and persist (the client
   * still gets its last finals, `ended` and `analysis_started`), then close with 1001.
   */
  async shutdown(): Promise<void> {
    if (this.phase.is("closed")) return;
    if (this.phase.is("awaiting_auth", "verifying")) return this.fail("shutting_down", "server shutting down");
    this.shuttingDown = true;
    this.notice("shutting_down", "server shutting down; your transcript is saved and the report will be available over REST");
    this.clientWantsReport = false;
    await this.finish("shutdown");
    this.endSocket(CloseCode.shuttingDown, "server shutting down");
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
    if (this.ending) await this.ending;
    else {
      this.toClosed();
      await this.pumpDone;
    }
    this.tracker?.stop();
    this.out.send({ type: "error", code: "session_deleted", message: "this session was deleted at its owner's request; nothing of it is kept", fatal: true });
    this.out.close(CloseCode.sessionDeleted, "session deleted", !this.readySent);
    this.toClosed();
  }

  /**
   * A fatal error: tell the client, close the socket; after `ready`, keep what was said. An
   * internal error after `ready` (a store or queue failure, a bug) is followed by `ended` with
   * what was committed, so a client waiting for it learns where the transcript stops.
   */
  fail(code: ErrorCode, message: string) {
    if (this.phase.is("closed")) return;
    this.log.info({ code }, message);
    const afterReady = this.phase.is("streaming", "finishing");
    this.out.send({ type: "error", code, message, fatal: true });
    if (code === "internal_error" && afterReady && !this.pump?.ended) this.sendEndedSoFar();
    this.out.close(ErrorCodes[code] ?? CloseCode.protocolViolation, message, !this.readySent);
    if (afterReady) background(this.finish(code), "session finish", this.log, this.deps.metrics);
    else this.toClosed();
  }

  private sendEndedSoFar() {
    const lag_ms = Math.max(0, Math.round(this.stream?.lagMs ?? 0));
    this.out.send({ type: "ended", lag_ms, text: this.sink.text, segments: this.sink.segments.length, audio_ms: this.intake?.audioMs ?? 0 });
  }

  // ---- outbound ------------------------------------------------------------------------------

  /** Sends, and acts on the verdict: a client too far behind is closed (its results are stored). */
  private send(msg: UnsequencedMessage) {
    if (this.out.send(msg) !== "over_limit") return;
    this.log.warn({ buffered: this.out.bufferedBytes }, "client reads too slowly; closing");
    this.emit({ type: "session.slow_consumer_closed" });
    this.fail("slow_consumer", "client is not reading; connection closed (results are stored)");
  }

  /** A non-fatal error: the session carries on. */
  private notice(code: ErrorCode, message: string) {
    this.send({ type: "error", code, message, fatal: false });
  }

  private endSocket(code: number, reason: string) {
    this.out.close(code, reason, !this.readySent);
    this.closeIfOver();
  }

  /** finishing -> closed: once the commit is over and the socket is closing or gone. */
  private closeIfOver() {
    if (this.phase.is("finishing") && this.committed && !this.out.isOpen) this.toClosed();
  }

  private onClose(code: number) {
    this.emit({ type: "session.closed", code });
    this.out.socketClosed();
    this.handshake.stop();
    this.clocks.stop();
    this.moveGauge(null);
    if (this.phase.is("streaming")) background(this.finish("client disconnected"), "session finish", this.log, this.deps.metrics);
    else if (this.phase.is("finishing")) this.closeIfOver();
    else this.toClosed();
    background(
      this.done.then(
        this.guard("close", () => {
          this.tracker?.stop();
          this.admission.release();
          this.deps.onFinished?.(this);
        }),
      ),
      "session close",
      this.log,
      this.deps.metrics,
    );
  }

  /** The session is over (the socket may still be closing: its gauge moves on the socket's close). */
  private toClosed() {
    if (!this.phase.move("closed")) return;
    this.handshake.stop();
    this.clocks.stop();
    this.stream?.close(); // aborts a decode still in flight; a no-op once the stream has ended
    this.ingest?.close?.();
    this.resolveDone();
  }

  private moveGauge(to: ConnectionState | null) {
    if (this.gauge === to) return;
    this.emit({ type: "session.state", from: this.gauge, to });
    this.gauge = to;
  }
}
