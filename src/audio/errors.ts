// Typed audio errors. `code` is a protocol error code (src/protocol/codes.ts): the session layer
// sends it as an `error` message and, when fatal, closes with that code's close code.
export type AudioErrorCode = "bad_audio" | "unsupported_audio";

export class AudioFrameError extends Error {
  readonly code: AudioErrorCode;
  /** false: skip this frame and keep the session; true: the stream cannot go on. */
  readonly fatal: boolean;
  constructor(code: AudioErrorCode, message: string, fatal: boolean) {
    super(message);
    this.name = "AudioFrameError";
    this.code = code;
    this.fatal = fatal;
  }
}
