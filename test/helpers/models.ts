// Finds Whisper models for tests: the random-weight tiny.en/base.en shapes (generated on demand
// by scripts/gen-test-models.sh) and, when present, real official weights.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";

export const SHARED_MODELS_DIR = resolve(process.env.PARLANCE_MODELS_DIR ?? "../shared/models");
export const TEST_MODELS_DIR = resolve(process.env.PARLANCE_TEST_MODELS_DIR ?? ".cache/models");
export const AUDIO_DIR = resolve(process.env.PARLANCE_AUDIO_DIR ?? "../shared/audio");

/** Path of the random-weight model of this shape, generating it (a few seconds) if missing. */
export function randomModel(shape: "tiny.en" | "base.en" = "tiny.en"): string {
  const p = join(TEST_MODELS_DIR, `random-${shape}.bin`);
  if (!existsSync(p) || statSync(p).size < 1e6) {
    execFileSync("bash", ["scripts/gen-test-models.sh", shape], { stdio: "inherit", env: { ...process.env, PARLANCE_TEST_MODELS_DIR: TEST_MODELS_DIR } });
  }
  return p;
}

/** Official sha256 of real weights (../shared/models/README.md). */
export const OFFICIAL_SHA256: Record<string, string> = {
  "tiny.en": "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
  "base.en": "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
};

async function sha256(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** A real (official, checksum-verified) model in the models dir, or null. */
export async function findRealModel(): Promise<{ name: string; path: string } | null> {
  for (const [name, sum] of Object.entries(OFFICIAL_SHA256)) {
    for (const dir of [SHARED_MODELS_DIR, TEST_MODELS_DIR]) {
      const p = join(dir, `ggml-${name}.bin`);
      if (existsSync(p) && (await sha256(p)) === sum) return { name, path: p };
    }
  }
  return null;
}

export { REAL_MODELS_DIR } from "./real-models.js";
import { REAL_MODELS_DIR } from "./real-models.js";

/**
 * The real tiny.en weights scripts/fetch-real-models.sh placed (its verification record must
 * still match the file), or an official file in the models dir. Missing is an error, never a
 * skip: CI fetches them before the tests, and a developer runs the script once.
 */
export async function realWhisper(): Promise<{ path: string; verification: string }> {
  const p = join(REAL_MODELS_DIR, "ggml-tiny.en.bin");
  if (existsSync(p) && existsSync(`${p}.verification`)) {
    const verification = readFileSync(`${p}.verification`, "utf8").trim();
    if (verification.includes(`sha256=${await sha256(p)}`)) return { path: p, verification };
    throw new Error(`${p} no longer matches its verification record: run scripts/fetch-real-models.sh again`);
  }
  const official = await findRealModel();
  if (official?.name === "tiny.en") return { path: official.path, verification: "official-sha256" };
  throw new Error(`no real Whisper tiny.en weights: run \`bash scripts/fetch-real-models.sh\` (puts them in ${REAL_MODELS_DIR})`);
}
