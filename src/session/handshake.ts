// Who the peer is, for as long as the session lasts: the first message (a text `auth` message,
// bounded and validated), the auth deadline, the token's verification, its expiry, and `reauth`
// (rate-limited, same subject only). It decides nothing about the session's state: verdicts go
// to its host, which ends or continues the session.
import type { Claims, TokenVerifier } from "../auth/verifier.js";
import { AuthError } from "../auth/errors.js";
import { AuthMessage, MAX_AUTH_MESSAGE_BYTES, StreamConfig, type ErrorCode } from "../protocol/index.js";
import type { Logger } from "../util/log.js";
import type { Guard } from "./guard.js";
import type { EmitMetric } from "./types.js";

export type AuthFrameVerdict =
  | { ok: true; token: string; config: StreamConfig }
  | { ok: false; code: ErrorCode; message: string; counted?: string };

/** setTimeout's longest delay (about 24.8 days, far beyond any session's limit). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The first frame, judged before anything is set up for the peer. */
export function parseAuthFrame(buf: Buffer, isBinary: boolean): AuthFrameVerdict {
  if (isBinary) return { ok: false, code: "protocol_violation", message: "the first message must be a text auth message, not binary", counted: "binary_before_auth" };
  if (buf.length > MAX_AUTH_MESSAGE_BYTES) return { ok: false, code: "frame_too_large", message: "auth message larger than 16 KiB" };
  let json: unknown;
  try {
    json = JSON.parse(buf.toString("utf8"));
  } catch {
    return { ok: false, code: "protocol_violation", message: "the first message must be JSON" };
  }
  const parsed = AuthMessage.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "bad shape";
    return { ok: false, code: "protocol_violation", message: `invalid auth message: ${where}`, counted: "invalid_auth" };
  }
  return { ok: true, token: parsed.data.token, config: StreamConfig.parse(parsed.data.config ?? {}) };
}

export interface HandshakeHost {
  fail(code: ErrorCode, message: string): void;
  notice(code: ErrorCode, message: string): void;
  /** A reauth succeeded: these claims are now the session's. */
  reauthed(claims: Claims): void;
  /** The subject the session belongs to (null before it is verified). */
  subject(): string | null;
}

export interface HandshakeDeps {
  verifier: TokenVerifier;
  limits: { authTimeoutMs: number; tokenExpiryGraceMs: number; reauthMinIntervalMs: number; noticeIntervalMs: number };
  emit: EmitMetric;
  log: Logger;
  guard: Guard;
}

export class Handshake {
  private deadline: NodeJS.Timeout | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private stopped = false;
  private reauthInFlight = false;
  private lastReauthAt = -Infinity;
  private reauthNoticeAt = -Infinity;

  constructor(
    private readonly deps: HandshakeDeps,
    private readonly host: HandshakeHost,
  ) {
    this.deadline = setTimeout(
      deps.guard("timer", () => this.host.fail("auth_timeout", "no valid auth message in time")),
      deps.limits.authTimeoutMs,
    );
  }

  /** Verifies the first message's token; null when refused (the host was told to fail). */
  async verify(token: string): Promise<Claims | null> {
    try {
      return await this.deps.verifier.verify(token);
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : "internal";
      this.deps.emit({ type: "auth.failure", reason });
      this.deps.log.info({ reason }, "authentication refused");
      // Clients learn that auth failed, not why: the reason would help an attacker more than a user.
      this.host.fail("auth_failed", reason === "expired" ? "token expired" : "authentication failed");
      return null;
    }
  }

  /** The session is streaming: the auth deadline no longer applies; the token's expiry does. */
  authenticated(claims: Claims): void {
    this.clearDeadline();
    this.armExpiry(claims);
  }

  /**
   * One verification at a time and at most one per reauthMinIntervalMs: each may cost a call to
   * the identity backend (JWKS, introspection). Excess reauths are ignored with a non-fatal
   * rate_limited error, itself sent at most once per notice interval.
   */
  reauth(token: string): void {
    const { reauthMinIntervalMs: min, noticeIntervalMs } = this.deps.limits;
    const now = performance.now();
    if (this.reauthInFlight || now - this.lastReauthAt < min) {
      this.deps.emit({ type: "session.rate_limited", what: "reauth" });
      if (now - this.reauthNoticeAt >= Math.max(min, noticeIntervalMs)) {
        this.reauthNoticeAt = now;
        this.host.notice("rate_limited", `reauth ignored: one at a time, at most one every ${min} ms; the current token stays in force`);
      }
      return;
    }
    this.lastReauthAt = now;
    this.reauthInFlight = true;
    this.deps.verifier
      .verify(token)
      .then(
        this.deps.guard("reauth", (claims: Claims) => this.onReauthed(claims)),
        this.deps.guard("reauth", (err: unknown) => {
          this.deps.emit({ type: "auth.failure", reason: err instanceof AuthError ? err.reason : "internal" });
          this.host.notice("auth_failed", "reauth token refused; the current token stays in force");
        }),
      )
      .finally(() => (this.reauthInFlight = false));
  }

  /** No more verdicts: the session is over. */
  stop(): void {
    this.stopped = true;
    this.clearDeadline();
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
  }

  private onReauthed(claims: Claims): void {
    if (this.stopped) return;
    if (claims.sub !== this.host.subject()) return this.host.fail("auth_failed", "reauth token is for another subject");
    this.host.reauthed(claims);
    this.armExpiry(claims);
  }

  /**
   * Policy: a session may not outlive its token. Clients refresh with `reauth`; at expiry the
   * server commits what was said, queues the analysis and closes with 4401.
   */
  private armExpiry(claims: Claims): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    if (!claims.exp || this.stopped) return;
    const ms = claims.exp * 1000 - Date.now() + this.deps.limits.tokenExpiryGraceMs;
    this.expiry = setTimeout(
      this.deps.guard("timer", () => this.host.fail("token_expired", "token expired; send reauth before exp to continue")),
      Math.max(0, Math.min(ms, MAX_TIMER_MS)),
    );
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }
}
