// Typed errors of the client SDK. Each carries what a caller needs to decide what to do next
// (retry later, ask for a new token, reconnect), so no caller has to parse messages.

export class ParlanceClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ParlanceClientError";
  }
}

/** The token was refused (close 4401 or an `auth_failed` / `token_expired` error). Retrying with the same token is pointless. */
export class AuthFailedError extends ParlanceClientError {
  constructor(
    message: string,
    readonly code: string = "auth_failed",
  ) {
    super(message);
    this.name = "AuthFailedError";
  }
}

/** The server is at capacity (`busy` message, close 1013 or HTTP 503). Retry after `retryAfterMs`. */
export class ServerBusyError extends ParlanceClientError {
  constructor(readonly retryAfterMs: number | null) {
    super(retryAfterMs === null ? "server busy" : `server busy, retry after ${retryAfterMs} ms`);
    this.name = "ServerBusyError";
  }
}

/**
 * The server cannot serve sessions at all until its operator acts (`stt_unavailable`: no speech
 * model; close 4503). Not retryable: reconnecting gets the same answer.
 */
export class ServiceUnavailableError extends ParlanceClientError {
  constructor(
    /** The server's error code, e.g. `stt_unavailable`. */
    readonly code: string,
    /** What the server said (names what the operator has to do). */
    readonly serverMessage: string,
  ) {
    super(code === "stt_unavailable" ? `speech recognition is not set up on this server: run \`parlance models pull tiny.en\` (${serverMessage})` : `${code}: ${serverMessage}`);
    this.name = "ServiceUnavailableError";
  }
}

/** The connection closed before the awaited step finished (network loss, server restart, a fatal protocol error). */
export class ConnectionClosedError extends ParlanceClientError {
  constructor(
    readonly code: number,
    readonly reason: string,
    /** The server's fatal `error` message that preceded the close, if any. */
    readonly serverError?: { code: string; message: string },
  ) {
    super(serverError ? `connection closed (${code}): ${serverError.code}: ${serverError.message}` : `connection closed (${code})${reason ? `: ${reason}` : ""}`);
    this.name = "ConnectionClosedError";
  }
}

/** A non-fatal `error` the server sent for a step the caller awaits (e.g. `analysis_failed` during `end()`). */
export class ServerError extends ParlanceClientError {
  constructor(
    readonly code: string,
    message: string,
    readonly fatal: boolean,
  ) {
    super(`${code}: ${message}`);
    this.name = "ServerError";
  }
}

/** The server sent something that does not match protocol v1. */
export class ProtocolError extends ParlanceClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** The caller aborted (`abort()` or the AbortSignal). */
export class AbortedError extends ParlanceClientError {
  constructor(reason?: unknown) {
    super(typeof reason === "string" ? `aborted: ${reason}` : "aborted", { cause: reason });
    this.name = "AbortedError";
  }
}

/** Timed out waiting for the server (no `ready` after auth, for instance). */
export class TimeoutError extends ParlanceClientError {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}
