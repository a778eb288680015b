// One protocol v1 session over one WebSocket: auth first, then audio and control messages out,
// validated server events in. Works in browsers (global WebSocket) and Node (pass `ws`).
import {
  CloseCode,
  ServerMessage,
  StreamConfig,
  type ReadyMessage,
  type ServerMessageType,
  type StreamConfigInput,
  type EndedMessage,
} from "../protocol/index.js";
import type { Report } from "../protocol/report.js";
import { floatToInt16, int16ToFloat } from "./audio.js";
import {
  AbortedError,
  AuthFailedError,
  ConnectionClosedError,
  ParlanceClientError,
  ProtocolError,
  ServerBusyError,
  ServerError,
  ServiceUnavailableError,
  TimeoutError,
} from "./errors.js";
import { AsyncQueue } from "../util/async-queue.js";

/** The subset of the WHATWG WebSocket that the SDK uses; both browsers and `ws` provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  readonly bufferedAmount: number;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (ev: any) => void): void;
}
export type WebSocketConstructor = new (url: string, protocolsOrOptions?: any, options?: any) => WebSocketLike;

export interface ConnectOptions {
  token: string;
  config?: StreamConfigInput;
  /** A WebSocket implementation; defaults to `globalThis.WebSocket`. In Node 20 pass `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Node only (`ws`): extra CA certificates in PEM, e.g. the dev server's self-signed cert. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Node only (`ws`): false accepts any certificate (`--insecure`). */
  rejectUnauthorized?: boolean;
  signal?: AbortSignal;
  /** How long to wait for `ready` after opening (default 15 s). */
  readyTimeoutMs?: number;
  /**
   * Server messages kept for iteration (default 10000). A caller that never iterates (it only
   * awaits `end()`) would otherwise keep every partial of the session; past this the oldest go.
   * `ready`, `ended` and the report are tracked apart and never lost.
   */
  maxBufferedMessages?: number;
}

const OPEN = 1;
const KNOWN_TYPES = new Set<string>(ServerMessage.options.map((o) => o.shape.type.value));

/**
 * Opens a connection, authenticates and resolves once the server says `ready`. Rejects with
 * AuthFailedError, ServerBusyError, ConnectionClosedError, TimeoutError or AbortedError.
 */
export async function connect(url: string, options: ConnectOptions): Promise<ParlanceSession> {
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) throw new ParlanceClientError("no WebSocket implementation: pass options.WebSocket (the `ws` package in Node)");
  if (!options.token) throw new AuthFailedError("no token given");
  const config = StreamConfig.parse(options.config ?? {});
  if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
  const tls: Record<string, unknown> = {};
  if (options.ca !== undefined) tls.ca = options.ca;
  if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized;
  // Browsers take (url, protocols); only hand an options object to implementations that want one.
  const socket = Object.keys(tls).length > 0 ? new Ctor(url, tls) : new Ctor(url);
  const session = new ParlanceSession(socket, options.token, config, options);
  await session.ready;
  return session;
}

export class ParlanceSession implements AsyncIterable<ServerMessage> {
  /** Resolves with the server's `ready` message. */
  readonly ready: Promise<ReadyMessage>;
  readyMessage: ReadyMessage | null = null;
  /** The `ended` message once the server has committed everything after `end()`. */
  endedMessage: EndedMessage | null = null;
  /** The last `lag_ms` the server reported (audio received but not yet decoded). */
  lagMs = 0;

  private readonly queue: AsyncQueue<ServerMessage>;
  private failure: Error | null = null; // why the session ended abnormally
  private finished = false;
  private lastServerError: { code: string; message: string } | null = null;
  private busyRetryMs: number | null = null;
  private socketError = "";
  private resolveReady!: (m: ReadyMessage) => void;
  private rejectReady!: (e: unknown) => void;
  private reportWaiter: { resolve: (r: Report) => void; reject: (e: unknown) => void; jobId: string | null; onProvisional?: (r: Report) => void; provisional?: Report } | null = null;
  private endSent = false;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly onAbort = () => this.abort(this.signal?.reason);
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly socket: WebSocketLike,
    token: string,
    readonly config: StreamConfig,
    options: Pick<ConnectOptions, "signal" | "readyTimeoutMs" | "maxBufferedMessages"> = {},
  ) {
    this.signal = options.signal;
    this.queue = new AsyncQueue({ capacity: options.maxBufferedMessages ?? 10000, overflow: "drop-oldest" });
    this.ready = new Promise<ReadyMessage>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Callers that never await `ready` (they iterate instead) must not see an unhandled rejection.
    this.ready.catch(() => {});
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token, config }));
    });
    socket.addEventListener("message", (ev: { data: unknown }) => this.onMessage(ev.data));
    socket.addEventListener("error", (ev: { message?: string; error?: unknown }) => {
      // `ws` reports a refused upgrade as "Unexpected server response: 503".
      const msg = ev?.message ?? (ev?.error instanceof Error ? ev.error.message : "");
      if (msg) this.socketError = msg; // browsers give no detail; `ws` names TLS and DNS failures
      if (/\b503\b/.test(msg)) this.fail(new ServerBusyError(this.busyRetryMs));
      else if (/\b401\b/.test(msg)) this.fail(new AuthFailedError("token refused"));
    });
    socket.addEventListener("close", (ev: { code: number; reason: string }) => this.onClose(ev.code, ev.reason ?? ""));
    const timeoutMs = options.readyTimeoutMs ?? 15000;
    this.readyTimer = setTimeout(() => {
      if (!this.readyMessage) this.abortWith(new TimeoutError(`no ready message within ${timeoutMs} ms`));
    }, timeoutMs);
    if (this.signal) {
      if (this.signal.aborted) queueMicrotask(this.onAbort);
      else this.signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  get sessionId(): string | null {
    return this.readyMessage?.session_id ?? null;
  }

  /** Bytes queued in the socket but not yet sent; pause capture or pacing when it grows. */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  get closed(): boolean {
    return this.finished;
  }

  /** Server messages dropped from the iteration buffer because nobody read them (maxBufferedMessages). */
  get droppedMessages(): number {
    return this.queue.dropped;
  }

  /**
   * Sends one chunk of audio in the session's encoding. Float32 input is converted to s16 (or
   * sent as-is for `pcm_f32le`), Int16 likewise; an ArrayBuffer or Uint8Array is sent untouched.
   * `opus`: the next bytes of the Ogg/Opus or WebM/Opus stream (e.g. a MediaRecorder chunk), as
   * ArrayBuffer or Uint8Array; the SDK does not encode.
   */
  sendAudio(chunk: Int16Array | Float32Array | ArrayBuffer | Uint8Array): void {
    this.assertStreaming("sendAudio");
    let payload: ArrayBufferView | ArrayBuffer;
    if (this.config.encoding === "opus" && !(chunk instanceof ArrayBuffer || chunk instanceof Uint8Array)) {
      throw new ParlanceClientError("sendAudio: encoding opus takes container bytes (ArrayBuffer or Uint8Array), not samples");
    }
    if (chunk instanceof ArrayBuffer || chunk instanceof Uint8Array) payload = chunk;
    else if (this.config.encoding === "pcm_s16le") payload = chunk instanceof Float32Array ? floatToInt16(chunk) : chunk;
    else payload = chunk instanceof Int16Array ? int16ToFloat(chunk) : chunk;
    if (payload.byteLength === 0) return;
    this.socket.send(payload);
  }

  /** Asks the server to commit everything pending now; streaming continues. */
  flush(): void {
    this.assertStreaming("flush");
    this.socket.send(JSON.stringify({ type: "flush" }));
  }

  /** Replaces the session's token before it expires (same subject). */
  reauth(token: string): void {
    this.assertOpen("reauth");
    this.socket.send(JSON.stringify({ type: "reauth", token }));
  }

  /**
   * Ends input and resolves with the session report. Rejects with ServerError when the server
   * reports `analysis_failed`, ConnectionClosedError when the connection drops first.
   * Reports with status "pending" (the transcript, fluency and vocabulary, sent before the LLM
   * part is ready or while the LLM is unreachable) go to `onProvisional`; the promise resolves
   * with the complete report, or with the last pending one if the connection closes first.
   */
  end(opts: { onProvisional?: (report: Report) => void } = {}): Promise<Report> {
    if (this.reportWaiter) return Promise.reject(new ParlanceClientError("end() already called"));
    try {
      this.assertStreaming("end");
    } catch (err) {
      return Promise.reject(err);
    }
    const p = new Promise<Report>((resolve, reject) => {
      this.reportWaiter = { resolve, reject, jobId: null, ...(opts.onProvisional ? { onProvisional: opts.onProvisional } : {}) };
    });
    this.endSent = true;
    this.socket.send(JSON.stringify({ type: "end" }));
    return p;
  }

  /** Drops the session now: no report. Pending `end()` and iteration reject with AbortedError. */
  abort(reason?: unknown): void {
    this.abortWith(new AbortedError(reason));
  }

  /** Closes normally without asking for a report (e.g. after `end()` resolved). */
  close(): void {
    if (this.socket.readyState <= OPEN) this.socket.close(CloseCode.normal, "client done");
  }

  [Symbol.asyncIterator](): AsyncIterator<ServerMessage> {
    return {
      // Messages buffered before a failure are still delivered; then it rejects with the failure.
      next: () => this.queue.next(),
      return: () => {
        // Leaving a for-await loop early does not end the session; the caller still owns it.
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  // ---- internals ---------------------------------------------------------------------------

  private assertOpen(what: string): void {
    if (this.failure) throw this.failure;
    if (this.finished || this.socket.readyState !== OPEN) throw new ConnectionClosedError(1006, `${what}: connection is not open`);
  }

  private assertStreaming(what: string): void {
    this.assertOpen(what);
    if (!this.readyMessage) throw new ParlanceClientError(`${what}: not ready yet (await session.ready)`);
    if (this.endSent) throw new ParlanceClientError(`${what}: end() was already called`);
  }

  private onMessage(data: unknown): void {
    if (typeof data !== "string") {
      this.abortWith(new ProtocolError("unexpected binary frame from server"));
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch (err) {
      this.abortWith(new ProtocolError("server sent invalid JSON", { cause: err }));
      return;
    }
    // Message types added later in v1 are skipped, not fatal; malformed known ones are.
    const type = (raw as { type?: unknown })?.type;
    if (typeof type === "string" && !KNOWN_TYPES.has(type)) return;
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) {
      this.abortWith(new ProtocolError(`invalid ${String(type)} message from server: ${parsed.error.message}`, { cause: parsed.error }));
      return;
    }
    this.dispatch(parsed.data);
  }

  private dispatch(m: ServerMessage): void {
    if ("lag_ms" in m) this.lagMs = m.lag_ms;
    switch (m.type) {
      case "ready":
        this.readyMessage = m;
        if (this.readyTimer) clearTimeout(this.readyTimer);
        this.resolveReady(m);
        break;
      case "busy":
        this.busyRetryMs = m.retry_after_ms;
        break;
      case "error":
        this.lastServerError = { code: m.code, message: m.message };
        if (!m.fatal && this.reportWaiter && m.code === "analysis_failed") {
          this.reportWaiter.reject(new ServerError(m.code, m.message, false));
          this.reportWaiter = null;
        }
        break;
      case "ended":
        this.endedMessage = m;
        break;
      case "analysis_started":
        if (this.reportWaiter && m.scope === "session") this.reportWaiter.jobId = m.job_id;
        break;
      case "report": {
        const w = this.reportWaiter;
        // Per-utterance reports (analyze_utterances) arrive before `end`; only the session's counts.
        if (w && this.endedMessage && (w.jobId === null || w.jobId === m.job_id)) {
          if (m.report.status === "pending") {
            w.provisional = m.report;
            try {
              w.onProvisional?.(m.report);
            } catch {
              // the caller's rendering error must not lose the complete report
            }
            break;
          }
          this.reportWaiter = null;
          w.resolve(m.report);
        }
        break;
      }
      default:
        break;
    }
    this.queue.push(m);
  }

  private onClose(code: number, reason: string): void {
    if (this.finished) return;
    let err: Error | null = null;
    const serverError = this.lastServerError ?? undefined;
    if (code === CloseCode.authFailed || code === CloseCode.authTimeout || serverError?.code === "auth_failed" || serverError?.code === "token_expired") {
      err = new AuthFailedError(serverError?.message ?? (reason || "authentication failed"), serverError?.code ?? "auth_failed");
    } else if (code === CloseCode.sttUnavailable || serverError?.code === "stt_unavailable") {
      // Before 4503 existed servers closed this with 1013 (busy); the error code tells them apart.
      err = new ServiceUnavailableError(serverError?.code ?? "stt_unavailable", serverError?.message ?? reason);
    } else if (code === CloseCode.busy || this.busyRetryMs !== null || serverError?.code === "server_busy") {
      err = new ServerBusyError(this.busyRetryMs);
    } else if (code !== CloseCode.normal || !this.readyMessage) {
      err = new ConnectionClosedError(code, reason || this.socketError, serverError);
    }
    // A normal close ends iteration cleanly, but a pending end() still learns no report came.
    if (!err && this.reportWaiter) {
      if (this.reportWaiter.provisional) this.reportWaiter.resolve(this.reportWaiter.provisional);
      else this.reportWaiter.reject(new ConnectionClosedError(code, reason || "closed without a report", serverError));
      this.reportWaiter = null;
    }
    this.finish(err);
  }

  private fail(err: Error): void {
    if (this.finished) return;
    this.finish(err);
    if (this.socket.readyState <= OPEN) this.socket.close();
  }

  private abortWith(err: Error): void {
    if (this.finished) return;
    this.finish(err);
    // 1000: the server treats an abort like any client leaving; nothing to report.
    if (this.socket.readyState <= OPEN) this.socket.close(CloseCode.normal, err instanceof AbortedError ? "client abort" : "client error");
  }

  private finish(err: Error | null): void {
    this.finished = true;
    this.failure = err;
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.signal?.removeEventListener("abort", this.onAbort);
    const closedErr = err ?? new ConnectionClosedError(CloseCode.normal, "closed");
    if (!this.readyMessage) this.rejectReady(closedErr);
    if (this.reportWaiter) {
      this.reportWaiter.reject(closedErr);
      this.reportWaiter = null;
    }
    if (err) this.queue.fail(err);
    else this.queue.close();
  }
}

export type { ServerMessage, ServerMessageType, ReadyMessage, Report };
