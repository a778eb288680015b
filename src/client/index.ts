// parlance client SDK: browsers and Node. Node callers pass `ws` as options.WebSocket.
export { connect, ParlanceSession, type ConnectOptions, type WebSocketLike, type WebSocketConstructor } from "./session.js";
export { connectWithRetry, isRetryable, retryDelay, type RetryPolicy } from "./reconnect.js";
export * from "./errors.js";
export { floatToInt16, int16ToFloat, downmix, levels, Resampler, Chunker } from "./audio.js";
export type { ServerMessage, ReadyMessage, PartialMessage, FinalMessage, EndedMessage, StreamConfigInput, ErrorMessage } from "../protocol/messages.js";
export type { Report, LanguageError, Recommendation, FluencyMetrics } from "../protocol/report.js";
export { STREAM_PATH, PROTOCOL_VERSION, CloseCode } from "../protocol/codes.js";
