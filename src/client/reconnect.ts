// Reconnect policy. A server session lives on exactly one connection: when the connection drops,
// that session's unsent audio, revisable partial and pending report are gone. "Reconnect" therefore
// means opening a NEW session (new session_id, timestamps from 0) and carrying on streaming; the
// finals already received stay with the caller. Busy servers say when to come back
// (retry_after_ms); bad tokens and protocol violations are never retried.
import { connect, type ConnectOptions, type ParlanceSession } from "./session.js";
import { AbortedError, AuthFailedError, ConnectionClosedError, ProtocolError, ServerBusyError, ServiceUnavailableError, TimeoutError } from "./errors.js";
import { CloseCode } from "../protocol/codes.js";

export interface RetryPolicy {
  /** Attempts after the first (default 5). */
  retries?: number;
  /** First back-off delay (default 500 ms); doubles each attempt with ±20 % jitter. */
  baseDelayMs?: number;
  /** Ceiling of one delay, including a server's retry_after_ms (default 30 s). */
  maxDelayMs?: number;
  /** Told before each wait; handy for "reconnecting in 2 s…" messages. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** Whether opening a new session could succeed where this error failed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AuthFailedError || err instanceof ProtocolError || err instanceof AbortedError || err instanceof ServiceUnavailableError) return false;
  if (err instanceof ServerBusyError || err instanceof TimeoutError) return true;
  if (err instanceof ConnectionClosedError) {
    const fatalForClient: number[] = [
      CloseCode.protocolViolation,
      CloseCode.authFailed,
      CloseCode.authTimeout,
      CloseCode.frameTooLarge,
      CloseCode.unsupportedAudio,
      CloseCode.sessionLimit,
      CloseCode.sttUnavailable,
    ];
    return !fatalForClient.includes(err.code);
  }
  // Anything else (DNS, refused connection) surfaces as a closed socket; unknown errors are not retried.
  return false;
}

/** Delay before attempt `attempt` (1-based): the server's hint for busy, else exponential back-off. */
export function retryDelay(err: unknown, attempt: number, policy: RetryPolicy = {}, random: () => number = Math.random): number {
  const base = policy.baseDelayMs ?? 500;
  const max = policy.maxDelayMs ?? 30000;
  if (err instanceof ServerBusyError && err.retryAfterMs !== null) return Math.min(max, err.retryAfterMs);
  const exp = base * 2 ** (attempt - 1);
  const jitter = 1 + (random() * 0.4 - 0.2);
  return Math.min(max, Math.round(exp * jitter));
}

/** `connect` with the retry policy above; rejects with the last error when retries run out. */
export async function connectWithRetry(url: string, options: ConnectOptions, policy: RetryPolicy = {}): Promise<ParlanceSession> {
  const retries = policy.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(url, options);
    } catch (err) {
      if (attempt >= retries || !isRetryable(err)) throw err;
      const delayMs = retryDelay(err, attempt + 1, policy);
      policy.onRetry?.({ attempt: attempt + 1, delayMs, error: err });
      await sleep(delayMs, options.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason));
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError(signal?.reason));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
