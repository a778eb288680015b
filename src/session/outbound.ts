// Everything a session does to its socket: the `seq` stamp, the bound on what a slow reader may
// make us buffer, the outbound byte counts, pings, the inbound frame bound, and the close. It never ends the session
// itself: `send` returns a verdict and the session decides (so sending cannot recurse into
// failing, which sends).
import type { WebSocket } from "ws";
import type { UnsequencedMessage } from "../protocol/speech-events.js";
import { setReceiverMaxPayload, truncateUtf8 } from "../transport/ws-limits.js";
import type { Logger } from "../util/log.js";
import type { EmitMetric } from "./types.js";

/**
 * sent: handed to the socket. dropped: a revisable partial skipped for a slow reader.
 * not_open: the socket is closing or closed. over_limit: the reader is so far behind that even
 * committed results no longer fit; nothing was sent and the session should close (4429).
 */
export type SendVerdict = "sent" | "dropped" | "not_open" | "over_limit";

/** Partials, which the next one replaces anyway, stop at this share of the buffer bound. */
const PARTIAL_SHARE_OF_BUFFER = 1 / 4;

export interface OutboundLimits {
  maxBufferedBytes: number;
  preAuthCloseGraceMs: number;
}

export class Outbound {
  private seq = 0;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly limits: OutboundLimits,
    private readonly emit: EmitMetric,
    private readonly log: Logger,
  ) {}

  /** Bytes accepted for sending that the client has not taken yet (what a slow reader costs us). */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /**
   * A client that stops reading must not grow our memory: revisable partials go first, then
   * everything but the fatal error that precedes a close (non-fatal errors count too: a client
   * that sends bad messages and never reads the answers would otherwise queue them without bound).
   */
  send(msg: UnsequencedMessage): SendVerdict {
    if (!this.isOpen) return "not_open";
    const buffered = this.ws.bufferedAmount;
    if (msg.type === "partial" && buffered > this.limits.maxBufferedBytes * PARTIAL_SHARE_OF_BUFFER) {
      this.emit({ type: "session.partial_dropped" });
      return "dropped";
    }
    if (buffered > this.limits.maxBufferedBytes && !(msg.type === "error" && msg.fatal)) return "over_limit";
    const text = JSON.stringify(msg.type === "busy" ? msg : { ...msg, seq: this.seq++ });
    this.emit({ type: "session.message_out", kind: msg.type });
    this.emit({ type: "session.bytes_out", bytes: text.length });
    this.ws.send(text, (err) => err && this.log.debug({ err: err.message }, "send failed"));
    return "sent";
  }

  /**
   * Sends the close frame. `bounded`: before `ready` the peer is nobody yet, so it gets
   * preAuthCloseGraceMs to answer, not ws's 30 s: a connection that never authenticates holds
   * its slot for the auth deadline plus that grace at most.
   */
  close(code: number, reason: string, bounded: boolean): void {
    if (this.ws.readyState !== this.ws.OPEN && this.ws.readyState !== this.ws.CONNECTING) return;
    this.ws.close(code, truncateUtf8(reason));
    if (bounded && !this.killTimer) {
      this.killTimer = setTimeout(() => this.ws.terminate(), this.limits.preAuthCloseGraceMs);
      this.killTimer.unref();
    }
  }

  /** The largest frame the peer may send from now on (the auth bound before `ready`, then the audio one). */
  setMaxPayload(bytes: number): void {
    setReceiverMaxPayload(this.ws, bytes);
  }

  ping(): void {
    this.ws.ping();
  }

  /** Drops the connection without a close handshake (a dead or broken peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /** The socket is gone: nothing left to bound. */
  socketClosed(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
  }
}
