// `parlance models list|pull`: the model catalogue (Whisper and the embedded LLM) and the files in
// the models directory; downloads with checksum verification, progress and resume (src/models/).
import type { Command } from "commander";
import { modelsDir, type Config } from "../config/index.js";
import { listLocalModels } from "../stt/models.js";
import { catalogue, findEntry, type CatalogueEntry } from "../models/catalogue.js";
import { downloadModel, downloadOptions, ModelDownloadError, type DownloadOptions } from "../models/download.js";
import { serverModels } from "../models/server-models.js";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export { ModelDownloadError };

export interface PullOptions {
  /** A mirror serving every file by name (tests: a loopback server); unset = the official URL. The CLI passes models.baseUrl. */
  baseUrl?: string;
  force?: boolean;
  trustMirrorChecksums?: boolean;
  retries?: number;
  /** Progress output; a bar on a TTY, a line every 10 % otherwise. */
  out?: DownloadOptions["out"];
  warn?: (message: string) => void;
}

/** Downloads one catalogue model (Whisper or LLM) by name or file name; resolves with its path. */
export async function pullModel(name: string, dir: string, opts: PullOptions = {}): Promise<string> {
  const entry = findEntry(name);
  if (!entry) throw new ModelDownloadError(`unknown model "${name}"; known: ${catalogue().map((x) => x.name).join(", ")}`);
  const r = await downloadModel(entry, dir, opts);
  return r.path;
}

const short = (e: CatalogueEntry) => (e.sha256 ? `sha256 ${e.sha256.slice(0, 12)}…` : e.sha1 ? `sha1 ${e.sha1.slice(0, 12)}…` : "no published checksum");

export function registerModelsCommands(program: Command, loadConfig: () => Config): void {
  const models = program.command("models").description("Whisper and LLM model files (PARLANCE_MODELS_DIR)");
  models
    .command("list")
    .description("the models the server loads, the files in the models directory, and what can be pulled")
    .action(() => {
      const cfg = loadConfig();
      const dir = modelsDir(cfg);
      const loads = serverModels(cfg);
      console.log(`models directory: ${dir}`);
      console.log("the server loads:");
      for (const m of loads) {
        console.log(`  ${m.kind.padEnd(7)} ${m.path}  ${m.present ? "present" : `MISSING${m.entry ? `: parlance models pull ${m.entry.name}` : ""}`}  (${m.setting})`);
      }
      if (loads.length === 0) console.log("  (no local models: remote engines configured)");
      const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.(bin|gguf)$/.test(f)).sort() : [];
      const whisperLocal = new Map(listLocalModels(dir).map((l) => [l.path, l]));
      console.log("files:");
      for (const f of files) {
        const p = join(dir, f);
        const entry = findEntry(f);
        const kind = entry?.kind ?? (f.endsWith(".gguf") ? "llm" : whisperLocal.has(p) ? "whisper" : "other");
        const mark = loads.some((m) => m.path === p) ? "  <- loaded by the server" : "";
        console.log(`  ${kind.padEnd(7)} ${f.padEnd(40)} ${(statSync(p).size / 1048576).toFixed(0).padStart(6)} MB  ${entry ? `catalogue ${entry.name}, ${short(entry)}` : "not in the catalogue"}${mark}`);
      }
      if (files.length === 0) console.log("  (none)");
      const missing = catalogue().filter((e) => !files.includes(e.file));
      console.log("catalogue (parlance models pull NAME):");
      for (const e of catalogue()) {
        console.log(`  ${e.kind.padEnd(7)} ${e.name.padEnd(36)} ~${String(e.sizeMB).padStart(5)} MB  ${short(e)}  ${files.includes(e.file) ? "present" : ""}`);
      }
      if (missing.length) console.log(`pullable: ${missing.map((o) => `${o.name} (~${o.sizeMB} MB)`).join(", ")}`);
    });
  models
    .command("pull")
    .description("download models with checksum verification, progress and resume; no NAME: the ones the server loads")
    .argument("[names...]", `catalogue names, e.g. tiny.en, base.en, qwen2.5-0.5b-instruct-q4_k_m (see models list)`)
    .option("--force", "download again even if the file exists")
    .option("--base-url <url>", "mirror serving every file by name (PARLANCE_MODELS_BASE_URL; default: each file's official URL)")
    .option("--trust-mirror-checksums", "accept files the mirror's SHA256SUMS lists even where they differ from the published checksum (warns)")
    .action(async (names: string[], o: { force?: boolean; baseUrl?: string; trustMirrorChecksums?: boolean }) => {
      const cfg = loadConfig();
      const dir = modelsDir(cfg);
      let entries: CatalogueEntry[];
      if (names.length === 0) {
        entries = serverModels(cfg).flatMap((m) => (m.entry ? [m.entry] : []));
        if (entries.length === 0) {
          console.error("nothing to pull: the configured models are not catalogue files (see parlance models list)");
          process.exitCode = 2;
          return;
        }
      } else {
        entries = [];
        for (const n of names) {
          const e = findEntry(n);
          if (!e) {
            console.error(`unknown model "${n}"; known: ${catalogue().map((x) => x.name).join(", ")}`);
            process.exitCode = 2;
            return;
          }
          entries.push(e);
        }
      }
      for (const entry of entries) {
        try {
          const settings = downloadOptions(cfg.models);
          const r = await downloadModel(entry, dir, {
            ...settings,
            baseUrl: o.baseUrl ?? settings.baseUrl,
            trustMirrorChecksums: o.trustMirrorChecksums ?? settings.trustMirrorChecksums,
            force: o.force,
            out: process.stderr,
            warn: (w) => console.error(w),
          });
          const how = r.verified === "present" ? "already present" : r.verified === "official" ? `verified: sha256 ${r.sha256}` : `accepted from the trusted mirror manifest (sha256 ${r.sha256}), not the official file`;
          console.log(`${entry.name} ${r.path} ${how}`);
        } catch (e) {
          console.error(`${entry.name}: ${(e as Error).message}`);
          process.exitCode = 1;
          return;
        }
      }
    });
}
