// The wire side of a speech stream: maps the STT layer's SpeechEvents (camelCase, internal) to
// protocol v1 server messages (snake_case, docs/protocol.md). The session stamps `seq` when it
// sends; nothing here knows about sockets, stores or sessions.
import type { SpeechEvent } from "../stt/types.js";
import type { ServerMessage } from "./messages.js";

/** A server message before the session stamps its sequence number (Omit distributed over the union). */
export type UnsequencedMessage = ServerMessage extends infer M ? (M extends unknown ? Omit<M, "seq"> : never) : never;

/** Speech events that have a message of their own; `error` events are the session's to judge. */
export type WireSpeechEvent = Exclude<SpeechEvent, { type: "error" }>;

/** Audio received but not decoded when the event was made, as the protocol's whole, non-negative ms. */
export function lagOf(ev: SpeechEvent): number {
  return "lagMs" in ev ? Math.max(0, Math.round(ev.lagMs)) : 0;
}

export function speechEventToWire(ev: WireSpeechEvent): UnsequencedMessage {
  const lag_ms = lagOf(ev);
  switch (ev.type) {
    case "speech_started":
      return { type: "speech_started", lag_ms, at: ev.at };
    case "partial":
      return { type: "partial", lag_ms, text: ev.text, start: ev.start, end: ev.end, words: ev.words };
    case "final":
      return { type: "final", lag_ms, segment_id: ev.segmentId, text: ev.text, start: ev.start, end: ev.end, words: ev.words, reason: ev.reason };
    case "utterance_end":
      return { type: "utterance_end", lag_ms, at: ev.at };
    case "ended":
      return { type: "ended", lag_ms, text: ev.text, segments: ev.segments, audio_ms: Math.round(ev.audioMs) };
  }
}
