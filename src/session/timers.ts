// A streaming session's clocks: the idle deadline (restarted by audio), the maximum duration,
// and the keepalive ping that drops a peer which stopped answering. What happens at each
// deadline is the session's; this only keeps time and clears everything on stop().
import type { Guard } from "./guard.js";

export interface ClockLimits {
  idleTimeoutMs: number;
  maxSessionMs: number;
  pingIntervalMs: number;
}

export interface ClockHandlers {
  idle(ms: number): void;
  sessionLimit(): void;
  /** A keepalive ping is due (the last one was answered). */
  ping(): void;
  /** No pong since the last ping: the peer is gone. */
  dead(): void;
}

export class SessionClocks {
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private answered = true;

  constructor(
    private readonly limits: ClockLimits,
    private readonly on: ClockHandlers,
    private readonly guard: Guard,
  ) {}

  start(): void {
    const { maxSessionMs, pingIntervalMs } = this.limits;
    this.touch();
    if (maxSessionMs > 0) this.timers.push(setTimeout(this.guard("timer", () => this.on.sessionLimit()), maxSessionMs));
    if (pingIntervalMs > 0) this.timers.push(setInterval(this.guard("ping", () => this.keepalive()), pingIntervalMs));
  }

  /** The peer answered a ping. */
  pong(): void {
    this.answered = true;
  }

  /** Audio arrived: the idle deadline starts again. */
  touch(): void {
    const ms = this.limits.idleTimeoutMs;
    if (ms <= 0 || this.stopped) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(this.guard("timer", () => this.on.idle(ms)), ms);
  }

  /** Input has ended: no more idle deadline (the commit may take its time). */
  stopIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private keepalive(): void {
    if (!this.answered) return this.on.dead();
    this.answered = false;
    this.on.ping();
  }

  stop(): void {
    this.stopped = true;
    this.stopIdle();
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }
}
