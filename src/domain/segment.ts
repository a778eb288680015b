// A committed segment: words the transcriber will not revise, numbered per session. The speech
// stream emits it (as a `final` event), the store keeps it, the analysis reads it; the wire
// mapping (snake_case) lives only at the edge (src/protocol/, src/transport/rest.ts).
import type { Word } from "../protocol/messages.js";

export interface CommittedSegment {
  /** 0, 1, 2... per session, never reused. */
  segmentId: number;
  text: string;
  /** Seconds since the session's first sample. */
  start: number;
  end: number;
  words: Word[];
}
