// Outbound's verdicts under a slow reader: it returns them and never ends anything itself, so the
// session's send -> fail -> send cannot recurse. The socket is the unit's outside: a small stand-in
// records what was sent and lets the test set how much is buffered.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { WebSocket } from "ws";
import fc from "fast-check";
import { Outbound } from "../../src/session/outbound.js";
import type { MetricEvent } from "../../src/metrics/events.js";
import { silentLogger } from "../../src/util/log.js";

function socket(buffered: number) {
  const sent: string[] = [];
  const closes: number[] = [];
  const ws = { OPEN: 1, CONNECTING: 0, readyState: 1, bufferedAmount: buffered, send: (t: string) => sent.push(t), close: (c: number) => closes.push(c), terminate() {} };
  return { ws: ws as unknown as WebSocket & { bufferedAmount: number; readyState: number }, sent, closes };
}

const MAX = 1000;
const partial = { type: "partial" as const, lag_ms: 0, text: "a", start: 0, end: 1, words: [] };
const final = { type: "final" as const, lag_ms: 0, segment_id: 0, text: "a", start: 0, end: 1, words: [], reason: "end" as const };
const fatal = { type: "error" as const, code: "slow_consumer", message: "x", fatal: true };

test("verdicts by buffered bytes: partials stop at a quarter, everything but the fatal error at the bound; seq only counts what was sent", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 * MAX }), fc.constantFrom(partial, final, fatal)), { maxLength: 40 }), (steps) => {
      const s = socket(0);
      const events: MetricEvent[] = [];
      const out = new Outbound(s.ws, { maxBufferedBytes: MAX, preAuthCloseGraceMs: 10 }, (e) => events.push(e), silentLogger);
      let expectSeq = 0;
      for (const [buffered, msg] of steps) {
        s.ws.bufferedAmount = buffered;
        const v = out.send(msg);
        const want = msg.type === "partial" && buffered > MAX / 4 ? "dropped" : buffered > MAX && msg.type !== "error" ? "over_limit" : "sent";
        assert.equal(v, want);
        if (v === "sent") assert.equal(JSON.parse(s.sent.at(-1)!).seq, expectSeq++);
      }
      assert.equal(s.sent.length, expectSeq);
      assert.equal(s.closes.length, 0, "outbound never closes on its own");
      assert.equal(events.filter((e) => e.type === "session.message_out").length, expectSeq);
    }),
  );
});

test("a closed socket gets not_open and nothing is written", () => {
  const s = socket(0);
  const out = new Outbound(s.ws, { maxBufferedBytes: MAX, preAuthCloseGraceMs: 10 }, () => {}, silentLogger);
  s.ws.readyState = 2;
  assert.equal(out.send(final), "not_open");
  assert.equal(s.sent.length, 0);
});
