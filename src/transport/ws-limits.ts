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
