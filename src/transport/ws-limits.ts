// Two small extensions of `ws` so that limits answer in protocol v1's terms:
// - a per-connection payload cap that is 16 KiB before auth and the configured frame limit after,
//   enforced by ws's receiver before the payload is buffered (the memory guard that matters);
// - when ws's receiver rejects a frame (too large, bad UTF-8, bad opcode) it closes with
//   1009/1007/1002; we first send a typed `error` message and use our documented close codes.
import { WebSocket } from "ws";
import { CloseCode } from "../protocol/codes.js";

type WithReceiver = { _receiver?: { _maxPayload?: number } };

export function setReceiverMaxPayload(ws: WebSocket, bytes: number): void {
  const r = (ws as unknown as WithReceiver)._receiver;
  // `_maxPayload` is ws's own field (stable since ws 1.x). If a future ws renames it, the
  // server-wide maxPayload still bounds every frame; test/transport covers the 16 KiB rule.
  if (r && typeof r._maxPayload === "number") r._maxPayload = bytes;
}

const RECEIVER_CLOSES: Record<number, { code: number; error: string; message: string }> = {
  1009: { code: CloseCode.frameTooLarge, error: "frame_too_large", message: "frame larger than the allowed size" },
  1007: { code: CloseCode.protocolViolation, error: "protocol_violation", message: "text frame is not valid UTF-8" },
  1002: { code: CloseCode.protocolViolation, error: "protocol_violation", message: "malformed WebSocket frame" },
};

export class ParlanceWebSocket extends WebSocket {
  private typedCloseSent = false;

  override close(code?: number, data?: string | Buffer): void {
    const mapped = code !== undefined ? RECEIVER_CLOSES[code] : undefined;
    if (mapped && !this.typedCloseSent && this.readyState === WebSocket.OPEN) {
      this.typedCloseSent = true;
      this.emit("protocol-error", mapped.error, mapped.code);
      try {
        this.send(JSON.stringify({ type: "error", code: mapped.error, message: mapped.message, fatal: true }));
      } catch {
        // the socket may already be unwritable; the close below still tells the client
      }
      return super.close(mapped.code, mapped.message);
    }
    return super.close(code, data);
  }
}

/** RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character (ws throws past 123). */
export function truncateUtf8(text: string, maxBytes = MAX_CLOSE_REASON_BYTES): string {
  const buf = Buffer.from(text, "utf8");
  if (buf.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString("utf8");
}

/**
 * A token bucket of audio milliseconds: fills at `ratio` ms per ms of wall time up to `burstMs`.
 * Wall time is read from the monotonic clock so that clock steps do not mint audio credit.
 */
export class AudioBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratio: number,
    private readonly burstMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burstMs;
    this.at = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burstMs, this.tokens + (t - this.at) * this.ratio);
    this.at = t;
  }

  /** Takes `ms` of audio credit; false (nothing taken) when there is not enough. */
  take(ms: number): boolean {
    this.refill();
    if (ms > this.tokens) return false;
    this.tokens -= ms;
    return true;
  }

  /** Whether `ms` of audio could be taken now (nothing is taken). */
  has(ms: number): boolean {
    this.refill();
    return ms <= this.tokens;
  }

  /** Milliseconds of wall time until `ms` of credit is there. */
  msUntil(ms: number): number {
    this.refill();
    return this.ratio > 0 ? Math.max(0, (ms - this.tokens) / this.ratio) : 0;
  }

  /** Milliseconds of wall time until the bucket is full again. */
  msUntilFull(): number {
    this.refill();
    return this.ratio > 0 ? (this.burstMs - this.tokens) / this.ratio : 0;
  }
}

/**
 * Per-subject state that must outlive one connection, or a learner could reset it by
 * reconnecting: the open sessions (for the per-subject cap) and the audio bucket shared by them.
 * An entry goes when its subject has no session left and its bucket has refilled, so the map
 * holds only subjects seen within the last burst/ratio seconds.
 */
export class SubjectLedger<S> {
  private readonly entries = new Map<string, { sessions: Set<S>; bucket: AudioBucket | null; sweep: NodeJS.Timeout | null }>();

  constructor(private readonly opts: { maxSessionsPerSubject: number; audioRealtimeRatio: number; audioBurstMs: number }) {}

  /** Registers `s` for `sub`; false when the subject is at its cap (nothing registered). */
  admit(sub: string, s: S): boolean {
    let e = this.entries.get(sub);
    if (!e) {
      const bucket = this.opts.audioRealtimeRatio > 0 ? new AudioBucket(this.opts.audioRealtimeRatio, this.opts.audioBurstMs) : null;
      e = { sessions: new Set(), bucket, sweep: null };
      this.entries.set(sub, e);
    }
    if (this.opts.maxSessionsPerSubject > 0 && e.sessions.size >= this.opts.maxSessionsPerSubject) {
      this.scheduleSweep(sub);
      return false;
    }
    if (e.sweep) clearTimeout(e.sweep);
    e.sweep = null;
    e.sessions.add(s);
    return true;
  }

  /** Takes audio credit for `sub`; true when there is no rate limit. */
  takeAudio(sub: string, ms: number): boolean {
    const b = this.entries.get(sub)?.bucket;
    return b ? b.take(ms) : true;
  }

  /** Null when `sub` may start streaming now, else the ms until it has one second of audio credit. */
  waitForCredit(sub: string): number | null {
    const b = this.entries.get(sub)?.bucket;
    if (!b || b.has(1000)) return null;
    return Math.ceil(b.msUntil(1000));
  }

  release(sub: string, s: S): void {
    const e = this.entries.get(sub);
    if (!e || !e.sessions.delete(s)) return;
    this.scheduleSweep(sub);
  }

  private scheduleSweep(sub: string): void {
    const e = this.entries.get(sub);
    if (!e || e.sessions.size > 0 || e.sweep) return;
    const wait = Math.ceil(e.bucket?.msUntilFull() ?? 0);
    e.sweep = setTimeout(() => {
      e.sweep = null;
      if (e.sessions.size === 0) this.entries.delete(sub);
    }, wait);
    e.sweep.unref();
  }

  sessionsOf(sub: string): number {
    return this.entries.get(sub)?.sessions.size ?? 0;
  }

  /** Subjects tracked (a gauge: it must come back down). */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const e of this.entries.values()) if (e.sweep) clearTimeout(e.sweep);
    this.entries.clear();
  }
}
