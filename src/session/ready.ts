// The `ready` message: what a client is promised once its session is set up (the audio format
// as understood, the limits it must keep to, the token's expiry, the engine).
import type { Claims } from "../auth/verifier.js";
import type { Config } from "../config/index.js";
import { PROTOCOL_VERSION, type StreamConfig } from "../protocol/index.js";
import type { UnsequencedMessage } from "../protocol/speech-events.js";
import type { SttService } from "../stt/types.js";

/** The longest audio one frame may carry: what the audio ingest enforces (audio/ingest.ts). */
const MAX_FRAME_MS = 1000;
/** The cadence clients are asked to send at (docs/protocol.md, "Audio"). */
const CHUNK_MS = 250;

export function readyMessage(id: string, claims: Claims, cfg: StreamConfig, limits: Config["limits"], stt: SttService | null): UnsequencedMessage {
  return {
    type: "ready",
    session_id: id,
    protocol: PROTOCOL_VERSION,
    subject: claims.sub,
    audio: { encoding: cfg.encoding, sample_rate: cfg.sample_rate, channels: cfg.channels },
    limits: {
      max_frame_bytes: limits.maxFrameBytes,
      max_frame_ms: MAX_FRAME_MS,
      idle_timeout_ms: limits.idleTimeoutMs,
      max_session_ms: limits.maxSessionMs,
      chunk_ms: CHUNK_MS,
      audio_realtime_ratio: limits.audioRealtimeRatio,
      audio_burst_ms: limits.audioBurstMs,
    },
    token_expires_at: claims.exp ? new Date(claims.exp * 1000).toISOString() : null,
    engine: { stt: stt?.engineName ?? "none", update_ms: stt?.updateMs ?? 0 },
  };
}
