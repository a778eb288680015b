// The session's error boundary: every callback that the socket, a timer or a promise calls into
// a session goes through a guard, so that what it throws (or rejects with) ends that one
// connection, never the process.

export type Guard = <A extends unknown[]>(where: string, fn: (...args: A) => unknown) => (...args: A) => void;

export function makeGuard(onError: (where: string, err: unknown) => void): Guard {
  return <A extends unknown[]>(where: string, fn: (...args: A) => unknown) =>
    (...args: A): void => {
      try {
        const r = fn(...args);
        if (r instanceof Promise) r.catch((err: unknown) => onError(where, err));
      } catch (err) {
        onError(where, err);
      }
    };
}
