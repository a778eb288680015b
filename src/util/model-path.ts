// How a model setting (PARLANCE_STT_MODEL, PARLANCE_LLM_MODEL) becomes a file, for every model
// kind alike: an absolute path is taken as is; a relative path (it has a slash) is looked up from
// the working directory, then inside the models dir; a bare name only inside the models dir,
// first under the kind's file names for it (whisper: "tiny.en" -> ggml-tiny.en.bin), then as is.
// A bare name never resolves against the working directory: what loads must not depend on where
// the server was started.
import { existsSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";

export interface ModelFile {
  /** The first candidate that is a file, or null. */
  path: string | null;
  /** Every place looked, in order (for the error message; the last is inside the models dir). */
  candidates: string[];
}

export function looksLikePath(nameOrPath: string): boolean {
  return /[\\/]/.test(nameOrPath);
}

export function findModelFile(nameOrPath: string, modelsDir: string, fileNames: (name: string) => string[] = () => []): ModelFile {
  const candidates = isAbsolute(nameOrPath)
    ? [nameOrPath]
    : looksLikePath(nameOrPath)
      ? [resolve(nameOrPath), join(modelsDir, nameOrPath)]
      : [...fileNames(nameOrPath).map((f) => join(modelsDir, f)), join(modelsDir, nameOrPath)];
  const path = candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
  return { path, candidates };
}
