// Files only this service may read: the SQLite database, the dev certificate's key, the dev
// signing secret. Created 0600 in directories created 0700; a file found with group or other
// bits (made by an older version, or copied in) is narrowed to its owner's bits. Directories that
// already exist are left as the operator made them (they may be shared on purpose).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync } from "node:fs";

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Removes group and other permissions from an existing file; returns true when it changed them. */
export function restrictFile(path: string): boolean {
  if (!existsSync(path)) return false;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return false;
  chmodSync(path, mode & 0o700);
  return true;
}

export function writePrivateFile(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE_MODE });
  // The mode above applies only when the file is created.
  restrictFile(path);
}

/** Creates an empty 0600 file when there is none (so a library that opens it keeps that mode). */
export function touchPrivateFile(path: string): void {
  if (existsSync(path)) restrictFile(path);
  else closeSync(openSync(path, "a", PRIVATE_FILE_MODE));
}
