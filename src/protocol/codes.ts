// WebSocket close codes and protocol error codes of protocol v1. docs/protocol.md lists them with
// their meaning; keep the two in step.

export const PROTOCOL_VERSION = 1 as const;
export const STREAM_PATH = "/v1/stream";

export const CloseCode = {
  normal: 1000,
  shuttingDown: 1001,
  internalError: 1011,
  busy: 1013,
  /** Not retryable: the server cannot transcribe at all (no speech model) until its operator acts. */
  sttUnavailable: 4503,
  protocolViolation: 4400,
  sessionDeleted: 4404,
  authFailed: 4401,
  authTimeout: 4408,
  idleTimeout: 4409,
  sessionLimit: 4410,
  frameTooLarge: 4413,
  unsupportedAudio: 4415,
  slowConsumer: 4429,
  /** A per-learner limit (audio rate, sessions per subject): the `error` code says which. */
  peerLimit: 4420,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** `code` values of `error` messages, and the close code each fatal one closes with. */
export const ErrorCodes = {
  auth_failed: CloseCode.authFailed,
  auth_timeout: CloseCode.authTimeout,
  token_expired: CloseCode.authFailed,
  protocol_violation: CloseCode.protocolViolation,
  frame_too_large: CloseCode.frameTooLarge,
  unsupported_audio: CloseCode.unsupportedAudio,
  idle_timeout: CloseCode.idleTimeout,
  session_limit: CloseCode.sessionLimit,
  slow_consumer: CloseCode.slowConsumer,
  server_busy: CloseCode.busy,
  stt_unavailable: CloseCode.sttUnavailable,
  shutting_down: CloseCode.shuttingDown,
  internal_error: CloseCode.internalError,
  // Non-fatal while excess audio or reauth is dropped; fatal (4420) once a session's dropped
  // audio exceeds a quarter of limits.audioBurstMs, or at auth while the learner has no credit.
  rate_limited: CloseCode.peerLimit,
  too_many_sessions: CloseCode.peerLimit,
  // The owner erased the session over REST while it was live: nothing of it is kept.
  session_deleted: CloseCode.sessionDeleted,
  // Non-fatal: the server is behind and the session's undecoded audio is at its byte bound.
  audio_dropped: null,
  // Non-fatal: the connection stays open.
  bad_audio: null,
  // Non-fatal per decode; fatal (1011) after stt.maxConsecutiveFailures failures in a row.
  transcription_failed: CloseCode.internalError,
  analysis_failed: null,
  invalid_message: null,
} as const satisfies Record<string, CloseCode | null>;
export type ErrorCode = keyof typeof ErrorCodes;
