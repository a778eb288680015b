// Which model files this configuration's server will load, whether they are there, and which
// catalogue entry (if any) `parlance models pull` would fetch for each.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { modelsDir, type Config } from "../config/index.js";
import { resolveModelPath as resolveLlmPath } from "../analysis/models/factory.js";
import { resolveModelPath as resolveWhisperPath } from "../stt/models.js";
import { sttEngine } from "../stt/engines.js";
import { findEntry, type CatalogueEntry, type ModelKind } from "./catalogue.js";

export interface ServerModel {
  kind: ModelKind;
  /** The setting that chooses it, as the user would change it. */
  setting: string;
  /** The file the server loads (or would, once pulled). */
  path: string;
  present: boolean;
  /** What `models pull` fetches for it; absent for custom files and paths outside the models dir. */
  entry?: CatalogueEntry;
}

export function serverModels(config: Config): ServerModel[] {
  const dir = modelsDir(config);
  const out: ServerModel[] = [];
  const whisperModel = sttEngine(config.stt.engine).localModel?.(config);
  if (whisperModel !== undefined) {
    const name = whisperModel;
    const isName = !/[\\/]/.test(name);
    const entry = isName ? findEntry(name) : undefined;
    let path: string;
    let present = true;
    try {
      path = resolveWhisperPath(name, dir);
    } catch {
      present = false;
      path = entry ? join(dir, entry.file) : name;
    }
    out.push({ kind: "whisper", setting: "PARLANCE_STT_MODEL", path, present, entry: entry?.kind === "whisper" ? entry : undefined });
  }
  if (config.llm.provider === "embedded" && config.queue.role === "all") {
    const path = resolveLlmPath(config);
    const entry = config.llm.model && /[\\/]/.test(config.llm.model) ? undefined : findEntry(path);
    out.push({ kind: "llm", setting: "PARLANCE_LLM_MODEL", path, present: existsSync(path), entry: entry?.kind === "llm" ? entry : undefined });
  }
  return out;
}
