// The session's transition table and the state machine that enforces it, over every state pair.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StateMachine, TRANSITIONS, type SessionState } from "../../src/session/states.js";

const STATES = Object.keys(TRANSITIONS) as SessionState[];

/** States reachable from `from` along the table. */
function reachable(from: SessionState): Set<SessionState> {
  const seen = new Set<SessionState>();
  const todo = [from];
  while (todo.length) for (const n of TRANSITIONS[todo.pop()!]) if (!seen.has(n)) seen.add(n), todo.push(n);
  return seen;
}

test("closed is reachable from every other state and leads nowhere; every state is reachable from awaiting_auth", () => {
  for (const s of STATES) if (s !== "closed") assert.ok(TRANSITIONS[s].includes("closed"), `${s} -> closed`);
  assert.deepEqual(TRANSITIONS.closed, []);
  assert.deepEqual([...reachable("awaiting_auth")].sort(), STATES.filter((s) => s !== "awaiting_auth").sort());
  assert.ok(TRANSITIONS.finishing.includes("closed"), "finishing -> closed, as the session header promises");
});

test("the machine moves exactly along the table: every (from, to) pair", () => {
  for (const from of STATES) {
    for (const to of STATES) {
      const moves: string[] = [];
      const m = new StateMachine((a, b) => moves.push(`${a}>${b}`));
      // walk to `from` along the main path
      const path: SessionState[] = ["verifying", "streaming", "finishing", "closed"];
      for (const p of path.slice(0, Math.max(0, path.indexOf(from) + 1))) assert.ok(m.move(p));
      assert.equal(m.state, from);
      const allowed = TRANSITIONS[from].includes(to);
      assert.equal(m.move(to), allowed, `${from} -> ${to}`);
      assert.equal(m.state, allowed ? to : from);
      if (allowed) assert.equal(moves.at(-1), `${from}>${to}`);
    }
  }
});
