// Protocol v1 messages. These zod schemas are the specification's source of truth: the server
// validates every client message with them, the SDK validates every server message, and
// docs/protocol.md shows each with an example.
import { z } from "zod";
import { PROTOCOL_VERSION } from "./codes.js";
import { Report } from "./report.js";

// ---- client -> server --------------------------------------------------------------------------

/** `opus`: Ogg/Opus or WebM/Opus container bytes (detected from the first bytes); rate and channels come from the stream. */
export const AudioEncoding = z.enum(["pcm_s16le", "pcm_f32le", "opus"]);
export type AudioEncoding = z.infer<typeof AudioEncoding>;

export const StreamConfig = z
  .object({
    encoding: AudioEncoding.default("pcm_s16le"),
    sample_rate: z.number().int().min(8000).max(48000).default(16000),
    channels: z.number().int().min(1).max(2).default(1),
    language: z
      .string()
      .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/, "a BCP 47 language tag such as en or en-GB")
      .default("en"),
    /** Also run the analysis after each `utterance_end`, not only after `end`. */
    analyze_utterances: z.boolean().default(false),
    /** Free-text topic or prompt the learner answered; given to the analysis as context. */
    task: z.string().max(500).optional(),
  })
  .strict();
export type StreamConfig = z.infer<typeof StreamConfig>;
export type StreamConfigInput = z.input<typeof StreamConfig>;

export const AuthMessage = z
  .object({
    type: z.literal("auth"),
    token: z.string().min(1),
    config: StreamConfig.optional(),
  })
  .strict();
export type AuthMessage = z.infer<typeof AuthMessage>;

/** Commit everything pending now and keep streaming. */
export const FlushMessage = z.object({ type: z.literal("flush") }).strict();
/** Commit everything and end input; the analysis follows. */
export const EndMessage = z.object({ type: z.literal("end") }).strict();
/** Replace the session's token before it expires (same subject required). */
export const ReauthMessage = z.object({ type: z.literal("reauth"), token: z.string().min(1) }).strict();

export const ClientMessage = z.discriminatedUnion("type", [AuthMessage, FlushMessage, EndMessage, ReauthMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// ---- server -> client --------------------------------------------------------------------------

export const Word = z.object({
  word: z.string(),
  start: z.number(), // seconds since the session's first audio sample
  end: z.number(),
  confidence: z.number().min(0).max(1),
});
export type Word = z.infer<typeof Word>;

const sequenced = { seq: z.number().int().nonnegative() };
/** Audio received but not yet decoded, in milliseconds, when the message was sent. */
const lagged = { ...sequenced, lag_ms: z.number().int().nonnegative() };

export const ReadyMessage = z.object({
  type: z.literal("ready"),
  ...sequenced,
  session_id: z.string(),
  protocol: z.literal(PROTOCOL_VERSION),
  subject: z.string(),
  audio: z.object({ encoding: AudioEncoding, sample_rate: z.number(), channels: z.number() }),
  limits: z.object({
    max_frame_bytes: z.number(),
    max_frame_ms: z.number(),
    idle_timeout_ms: z.number(),
    max_session_ms: z.number(),
    chunk_ms: z.number(), // the cadence the server expects audio at
    /** Audio accepted per learner, as a multiple of real time, after the burst (0 = no limit). */
    audio_realtime_ratio: z.number().optional(),
    /** Audio (ms) a learner may send ahead of real time before the ratio applies. */
    audio_burst_ms: z.number().optional(),
  }),
  token_expires_at: z.string().nullable(),
  engine: z.object({ stt: z.string(), update_ms: z.number() }),
});
export type ReadyMessage = z.infer<typeof ReadyMessage>;

export const ErrorMessage = z.object({
  type: z.literal("error"),
  seq: z.number().int().nonnegative().optional(),
  code: z.string(),
  message: z.string(),
  fatal: z.boolean(),
});
export type ErrorMessage = z.infer<typeof ErrorMessage>;

export const BusyMessage = z.object({ type: z.literal("busy"), retry_after_ms: z.number().int().nonnegative() });
export type BusyMessage = z.infer<typeof BusyMessage>;

export const PartialMessage = z.object({
  type: z.literal("partial"),
  ...lagged,
  text: z.string(), // the uncommitted hypothesis; replaces the previous partial
  start: z.number(),
  end: z.number(),
  words: z.array(Word),
});
export type PartialMessage = z.infer<typeof PartialMessage>;

export const FinalMessage = z.object({
  type: z.literal("final"),
  ...lagged,
  segment_id: z.number().int().nonnegative(), // 0, 1, 2... per session, never reused
  text: z.string(),
  start: z.number(),
  end: z.number(),
  words: z.array(Word),
  reason: z.enum(["agreement", "utterance_end", "flush", "end", "window"]),
});
export type FinalMessage = z.infer<typeof FinalMessage>;

export const SpeechStartedMessage = z.object({ type: z.literal("speech_started"), ...lagged, at: z.number() });
export const UtteranceEndMessage = z.object({ type: z.literal("utterance_end"), ...lagged, at: z.number() });

/** Reply to `end`: every final has been sent; `text` is the whole committed transcript. */
export const EndedMessage = z.object({
  type: z.literal("ended"),
  ...lagged,
  text: z.string(),
  segments: z.number().int().nonnegative(),
  audio_ms: z.number().int().nonnegative(),
});
export type EndedMessage = z.infer<typeof EndedMessage>;

export const AnalysisStartedMessage = z.object({
  type: z.literal("analysis_started"),
  ...sequenced,
  job_id: z.string(),
  scope: z.enum(["session", "utterance"]),
});
export const ReportMessage = z.object({ type: z.literal("report"), ...sequenced, job_id: z.string(), report: Report });
export type ReportMessage = z.infer<typeof ReportMessage>;

export const ServerMessage = z.discriminatedUnion("type", [
  ReadyMessage,
  ErrorMessage,
  BusyMessage,
  PartialMessage,
  FinalMessage,
  SpeechStartedMessage,
  UtteranceEndMessage,
  EndedMessage,
  AnalysisStartedMessage,
  ReportMessage,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type ServerMessageType = ServerMessage["type"];

/** Pre-auth frames above this are refused whatever the configured limits. */
export const MAX_AUTH_MESSAGE_BYTES = 16 * 1024;
export const MAX_TOKEN_BYTES = 8 * 1024;
