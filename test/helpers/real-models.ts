// Real model files for tests that need real words: scripts/fetch-real-models.sh puts them in
// PARLANCE_REAL_MODELS_DIR (default .cache/real-models), each with a `<file>.verification` record
// saying how it was checked (official checksum, or the documented functional fallback).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const REAL_MODELS_DIR = resolve(process.env.PARLANCE_REAL_MODELS_DIR ?? ".cache/real-models");

/** Path of a real model file, or a failure that says how to get it (CI runs the script first). */
export function realModel(file: string): string {
  const p = join(REAL_MODELS_DIR, file);
  if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/fetch-real-models.sh (or set PARLANCE_REAL_MODELS_DIR)`);
  return p;
}

export function hasRealModel(file: string): boolean {
  return existsSync(join(REAL_MODELS_DIR, file));
}
