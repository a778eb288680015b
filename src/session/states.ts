// The session's states and every transition between them, in one table. `closed` is reachable
// from every other state and leads nowhere: whatever path a session takes, it ends there once.
//
//   awaiting_auth -> verifying -> streaming -> finishing -> closed
//        \--------------\------------\--------------------> closed
//
// awaiting_auth: socket open, no auth message yet. verifying: the token is being checked and the
// session set up (admission, decoder, store row). streaming: `ready` sent, audio flows.
// finishing: input has ended (end, fatal error, disconnect, shutdown) and what was said is being
// committed, stored and queued for analysis, or a wanted report is awaited. closed: over.

export type SessionState = "awaiting_auth" | "verifying" | "streaming" | "finishing" | "closed";

export const TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  awaiting_auth: ["verifying", "closed"],
  verifying: ["streaming", "closed"],
  streaming: ["finishing", "closed"],
  finishing: ["closed"],
  closed: [],
};

/** Holds the current state; refuses any move the table does not list. */
export class StateMachine {
  private current: SessionState = "awaiting_auth";

  constructor(private readonly onMove: (from: SessionState, to: SessionState) => void = () => {}) {}

  get state(): SessionState {
    return this.current;
  }

  is(...states: SessionState[]): boolean {
    return states.includes(this.current);
  }

  /** Moves to `to` when the table allows it; false (and no move) otherwise. */
  move(to: SessionState): boolean {
    const from = this.current;
    if (!TRANSITIONS[from].includes(to)) return false;
    this.current = to;
    this.onMove(from, to);
    return true;
  }
}
