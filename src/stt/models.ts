// Whisper model files: where they live, what the official ones are, how a name becomes a path.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { findModelFile, looksLikePath } from "../util/model-path.js";
import { ModelNotFoundError } from "./errors.js";

export interface OfficialModel {
  name: string;
  file: string;
  /** Approximate size, for the progress bar before the server says. */
  sizeMB: number;
  sha1?: string;
  sha256?: string;
}

/** The official whisper.cpp ggml files (huggingface.co/ggerganov/whisper.cpp), with their checksums. */
export const OFFICIAL_MODELS: readonly OfficialModel[] = [
  { name: "tiny.en", file: "ggml-tiny.en.bin", sizeMB: 75, sha1: "c78c86eb1a8faa21b369bcd33207cc90d64ae9df", sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f" },
  { name: "tiny", file: "ggml-tiny.bin", sizeMB: 75, sha1: "bd577a113a864445d4c299885e0cb97d4ba92b5f" },
  { name: "base.en", file: "ggml-base.en.bin", sizeMB: 142, sha1: "137c40403d78fd54d454da0f9bd998f78703390c", sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002" },
  { name: "base", file: "ggml-base.bin", sizeMB: 142, sha1: "465707469ff3a37a2b9b8d8f89f2f99de7299dac" },
  { name: "small.en", file: "ggml-small.en.bin", sizeMB: 466, sha1: "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022" },
  { name: "small", file: "ggml-small.bin", sizeMB: 466, sha1: "55356645c2b361a969dfd0ef2c5a50d530afd8d5" },
  { name: "medium.en", file: "ggml-medium.en.bin", sizeMB: 1500, sha1: "8c30f0e44ce9560643ebd10bbe50cd20eafd3723" },
  { name: "medium", file: "ggml-medium.bin", sizeMB: 1500, sha1: "fd9727b6e1217c2f614f9b698455c4ffd82463b4" },
  { name: "large-v3-turbo", file: "ggml-large-v3-turbo.bin", sizeMB: 1500, sha1: "4af2b29d7ec73d781377bfd1758ca957a807e941" },
];

export const DEFAULT_MODELS_BASE_URL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

export function officialModel(name: string): OfficialModel | undefined {
  return OFFICIAL_MODELS.find((m) => m.name === name);
}

/** "tiny.en" -> <dir>/ggml-tiny.en.bin (util/model-path.ts says how names and paths resolve); throws when missing. */
export function resolveModelPath(nameOrPath: string, modelsDir: string): string {
  const { path, candidates } = findModelFile(nameOrPath, modelsDir, (name) => [`ggml-${name}.bin`]);
  if (path) return path;
  throw new ModelNotFoundError(
    `Whisper model "${nameOrPath}" not found (looked for ${candidates.join(", ")}). ` +
      `Download it with \`parlance models pull ${looksLikePath(nameOrPath) ? "tiny.en" : nameOrPath}\` or set PARLANCE_STT_MODEL to a ggml file.`,
  );
}

export interface LocalModel {
  name: string;
  path: string;
  bytes: number;
  official?: OfficialModel;
}

/** ggml-*.bin files in the models directory. */
export function listLocalModels(modelsDir: string): LocalModel[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir)
    .filter((f) => /^ggml-.+\.bin$/.test(f))
    .sort()
    .map((f) => {
      const name = f.slice(5, -4);
      const path = join(modelsDir, f);
      return { name, path, bytes: statSync(path).size, official: officialModel(name) };
    });
}
