// The one AsyncQueue against a plain model of it, over generated operation sequences: order,
// bound, close/fail/cancel semantics and waiting consumers.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AsyncQueue, QueueOverflowError } from "../../src/util/async-queue.js";

type Op = { op: "push"; v: number } | { op: "next" } | { op: "close" } | { op: "fail" } | { op: "cancel" };
type Outcome = { value: number } | { done: true } | { error: string } | "pending";

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 999 }).map((v) => ({ op: "push" as const, v })) },
  { weight: 5, arbitrary: fc.constant({ op: "next" as const }) },
  { weight: 1, arbitrary: fc.constantFrom<Op>({ op: "close" }, { op: "fail" }, { op: "cancel" }) },
);

/** What the queue must do, written the simplest way. */
function model(ops: Op[], capacity: number, overflow: "fail" | "drop-oldest") {
  let items: number[] = [];
  const pending: number[] = []; // indexes into outcomes of next() calls still waiting
  const outcomes: Outcome[] = [];
  const pushed: boolean[] = [];
  let state: "open" | "closed" | "failed" = "open";
  let error = "";
  let dropped = 0;
  const settle = (o: Outcome) => (outcomes[pending.shift()!] = o);
  for (const o of ops) {
    if (o.op === "push") {
      if (state !== "open") pushed.push(false);
      else if (pending.length) (settle({ value: o.v }), pushed.push(true));
      else if (items.length >= capacity && overflow === "fail") {
        state = "failed";
        error = "QueueOverflowError";
        pushed.push(false);
      } else {
        if (items.length >= capacity) (items.shift(), dropped++);
        items.push(o.v);
        pushed.push(true);
      }
    } else if (o.op === "next") {
      outcomes.push("pending");
      const i = outcomes.length - 1;
      if (items.length) outcomes[i] = { value: items.shift()! };
      else if (state === "failed") outcomes[i] = { error };
      else if (state === "closed") outcomes[i] = { done: true };
      else pending.push(i);
    } else {
      if (o.op === "cancel") {
        items = [];
        if (state === "failed") state = "closed";
      }
      if (state !== "open") continue;
      state = o.op === "fail" ? "failed" : "closed";
      error = "boom";
      while (pending.length) settle(state === "failed" ? { error } : { done: true });
    }
  }
  return { outcomes, pushed, size: items.length, dropped };
}

async function real(ops: Op[], capacity: number, overflow: "fail" | "drop-oldest") {
  const q = new AsyncQueue<number>({ capacity, overflow });
  const outcomes: Outcome[] = [];
  const pushed: boolean[] = [];
  let maxSize = 0;
  for (const o of ops) {
    if (o.op === "push") pushed.push(q.push(o.v));
    else if (o.op === "next") {
      const i = outcomes.push("pending") - 1;
      q.next().then(
        (r) => (outcomes[i] = r.done ? { done: true } : { value: r.value }),
        (e: unknown) => (outcomes[i] = { error: e instanceof QueueOverflowError ? "QueueOverflowError" : (e as Error).message }),
      );
    } else if (o.op === "close") q.close();
    else if (o.op === "fail") q.fail(new Error("boom"));
    else q.cancel();
    maxSize = Math.max(maxSize, q.size);
    await Promise.resolve();
    await Promise.resolve();
  }
  await new Promise((r) => setImmediate(r));
  return { outcomes, pushed, size: q.size, dropped: q.dropped, maxSize };
}

for (const overflow of ["fail", "drop-oldest"] as const) {
  test(`AsyncQueue (${overflow}) behaves like its model on generated operation sequences`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), async (ops, capacity) => {
        const want = model(ops, capacity, overflow);
        const got = await real(ops, capacity, overflow);
        assert.deepEqual(got.outcomes, want.outcomes);
        assert.deepEqual(got.pushed, want.pushed);
        assert.equal(got.size, want.size);
        assert.equal(got.dropped, want.dropped);
        assert.ok(got.maxSize <= capacity, `buffered ${got.maxSize} > capacity ${capacity}`);
      }),
      { numRuns: 300 },
    );
  });
}

test("every item pushed before close is delivered once, in order, then the iterator ends", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer(), { maxLength: 50 }), async (xs) => {
      const q = new AsyncQueue<number>({ capacity: Math.max(1, xs.length) });
      const got: number[] = [];
      const consumer = (async () => {
        for await (const x of q) got.push(x);
      })();
      for (const x of xs) {
        assert.equal(q.push(x), true);
        if (x % 3 === 0) await Promise.resolve(); // interleave the consumer at generated points
      }
      q.close();
      await consumer;
      assert.deepEqual(got, xs);
      assert.equal(q.push(1), false, "closed: nothing more accepted");
    }),
  );
});

test("a full queue under 'fail' fails the consumer after it drains, with a typed error", async () => {
  const q = new AsyncQueue<number>({ capacity: 2 });
  assert.ok(q.push(1) && q.push(2));
  assert.equal(q.push(3), false);
  assert.deepEqual(await q.next(), { value: 1, done: false });
  assert.deepEqual(await q.next(), { value: 2, done: false });
  await assert.rejects(q.next(), (e: unknown) => e instanceof QueueOverflowError && e.capacity === 2);
  await assert.rejects(q.next(), QueueOverflowError, "stays failed");
  assert.throws(() => new AsyncQueue({ capacity: 0 }), RangeError);
});
