// Typed store errors, so callers can tell "no such row" from a broken database.
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** The row an update targets does not exist (e.g. the session was erased while its job ran). */
export class NotFoundError extends StoreError {
  constructor(what: string, id: string) {
    super(`${what} ${id} not found`);
    this.name = "NotFoundError";
  }
}

/** Input rejected before it reaches the database. */
export class InvalidRecordError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidRecordError";
  }
}

/** A stored row fails its schema on the way out (edited by hand, written by an incompatible version). */
export class CorruptRecordError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CorruptRecordError";
  }
}
