// The SDK's iteration buffer is the one AsyncQueue, bounded by maxBufferedMessages: a caller that
// never iterates keeps only the newest messages, while ready and ended are tracked apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ParlanceSession, type WebSocketLike } from "../../src/client/session.js";
import { StreamConfig } from "../../src/protocol/index.js";

/** Just enough of a WebSocket to feed the session server messages. */
function fakeSocket() {
  const listeners = new Map<string, ((ev: any) => void)[]>();
  const socket: WebSocketLike & { fire(type: string, ev: unknown): void } = {
    readyState: 1,
    binaryType: "arraybuffer",
    bufferedAmount: 0,
    send: () => undefined,
    close: () => undefined,
    addEventListener: (type, l) => void listeners.set(type, [...(listeners.get(type) ?? []), l]),
    fire: (type, ev) => listeners.get(type)?.forEach((l) => l(ev)),
  };
  return socket;
}

const ready = {
  type: "ready",
  seq: 0,
  session_id: "s1",
  protocol: 1,
  subject: "u",
  audio: { encoding: "pcm_s16le", sample_rate: 16000, channels: 1 },
  limits: { max_frame_bytes: 1, max_frame_ms: 1000, idle_timeout_ms: 1, max_session_ms: 1, chunk_ms: 250 },
  token_expires_at: null,
  engine: { stt: "fake", update_ms: 1000 },
};
const partial = (seq: number) => ({ type: "partial", seq, lag_ms: 0, text: `p${seq}`, start: 0, end: 1, words: [] });

test("unread messages beyond maxBufferedMessages drop oldest first; ready and ended stay known", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 30 }), async (cap, n) => {
      const sock = fakeSocket();
      const s = new ParlanceSession(sock, "t", StreamConfig.parse({}), { maxBufferedMessages: cap, readyTimeoutMs: 60_000 });
      sock.fire("message", { data: JSON.stringify(ready) });
      await s.ready;
      for (let i = 1; i <= n; i++) sock.fire("message", { data: JSON.stringify(partial(i)) });
      sock.fire("message", { data: JSON.stringify({ type: "ended", seq: n + 1, lag_ms: 0, text: "", segments: 0, audio_ms: 0 }) });
      sock.fire("close", { code: 1000, reason: "" });
      const got: number[] = [];
      for await (const m of s) got.push("seq" in m && typeof m.seq === "number" ? m.seq : -1);
      const all = Array.from({ length: n + 2 }, (_, i) => i);
      assert.deepEqual(got, all.slice(-cap), "the newest, in order");
      assert.equal(s.droppedMessages, Math.max(0, n + 2 - cap));
      assert.equal(s.readyMessage?.session_id, "s1");
      assert.equal(s.endedMessage?.seq, n + 1);
    }),
    { numRuns: 60 },
  );
});
