// The stream's events go through the one bounded AsyncQueue: a consumer that stops reading gets
// the events it left, then a typed overflow error; the stream stops and gives its slot back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeTranscriber, timelineResponder, steadySpeech } from "../../src/stt/fake.js";
import { QueueOverflowError } from "../../src/util/async-queue.js";
import type { SpeechEvent } from "../../src/stt/types.js";
import { concat, feed, makeStream, silence, voiced } from "./_util.js";

test("an unread stream fails with QueueOverflowError after maxPendingEvents, and stops decoding", async () => {
  const fake = new FakeTranscriber({ respond: timelineResponder(steadySpeech(0.5, 60, 0.4)) });
  const { stream, scheduler } = makeStream(fake, { maxPendingEvents: 16, agreement: 2 });
  await feed(stream, concat(silence(0.5), voiced(40)));
  const callsAtStop = fake.calls.length;
  await feed(stream, voiced(5));
  assert.equal(fake.calls.length, callsAtStop, "no decode after the overflow");
  assert.equal(scheduler.running + scheduler.queued, 0);
  const got: SpeechEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const e of stream) got.push(e);
    })(),
    (e: unknown) => e instanceof QueueOverflowError && e.capacity === 16,
  );
  assert.equal(got.length, 16, "what was buffered is still delivered first");
});
