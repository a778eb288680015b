// `parlance models list|pull`: official whisper.cpp ggml files into the models directory.
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { modelsDir, type Config } from "../config/index.js";
import { DEFAULT_MODELS_BASE_URL, listLocalModels, officialModel, OFFICIAL_MODELS } from "../stt/models.js";

export class ModelDownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelDownloadError";
  }
}

export interface PullOptions {
  /** Overrides the official base URL (tests: a loopback server; mirrors). PARLANCE_MODELS_BASE_URL. */
  baseUrl?: string;
  force?: boolean;
  /** Progress output; a bar when it is a TTY, nothing otherwise. */
  out?: NodeJS.WriteStream;
}

/** Downloads one official model, checks SHA-256 (or SHA-1), renames into place atomically. */
export async function pullModel(name: string, dir: string, opts: PullOptions = {}): Promise<string> {
  const m = officialModel(name);
  if (!m) throw new ModelDownloadError(`unknown model "${name}"; known: ${OFFICIAL_MODELS.map((x) => x.name).join(", ")}`);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, m.file);
  if (existsSync(dest) && !opts.force) return dest;
  const base = (opts.baseUrl ?? process.env.PARLANCE_MODELS_BASE_URL ?? DEFAULT_MODELS_BASE_URL).replace(/\/+$/, "");
  const url = `${base}/${m.file}`;
  const res = await fetch(url, { redirect: "follow" });
  if (!res.ok || !res.body) throw new ModelDownloadError(`download of ${url} failed: HTTP ${res.status}`);
  const total = Number(res.headers.get("content-length")) || m.sizeMB * 1024 * 1024;
  const sha256 = createHash("sha256");
  const sha1 = createHash("sha1");
  const tmp = `${dest}.part-${process.pid}`;
  const out = opts.out;
  const tty = Boolean(out?.isTTY);
  let got = 0;
  let lastDraw = 0;
  const draw = (final = false) => {
    if (!tty || !out) return;
    const now = Date.now();
    if (!final && now - lastDraw < 100) return;
    lastDraw = now;
    const frac = Math.min(1, got / total);
    const width = 30;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, "-");
    out.write(`\r${m.name} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${(got / 1048576).toFixed(1)}/${(total / 1048576).toFixed(0)} MB${final ? "\n" : ""}`);
  };
  try {
    const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      sha256.update(chunk);
      sha1.update(chunk);
      got += chunk.length;
      draw();
    });
    await pipeline(body, createWriteStream(tmp));
    draw(true);
    const h256 = sha256.digest("hex");
    const h1 = sha1.digest("hex");
    if (m.sha256 ? h256 !== m.sha256 : m.sha1 ? h1 !== m.sha1 : false) {
      throw new ModelDownloadError(`checksum mismatch for ${m.file}: got sha256 ${h256} / sha1 ${h1}, expected ${m.sha256 ?? m.sha1}`);
    }
    renameSync(tmp, dest); // atomic: a server never sees a half-written model
    return dest;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e instanceof ModelDownloadError ? e : new ModelDownloadError(`download of ${url} failed: ${(e as Error).message}`);
  }
}

export function registerModelsCommands(program: Command, loadConfig: () => Config): void {
  const models = program.command("models").description("manage Whisper models (PARLANCE_MODELS_DIR)");
  models
    .command("list")
    .description("models in the models directory, and the official ones you can pull")
    .action(() => {
      const cfg = loadConfig();
      const dir = modelsDir(cfg);
      const local = listLocalModels(dir);
      console.log(`models directory: ${dir}`);
      console.log(`server model (PARLANCE_STT_MODEL): ${cfg.stt.model}`);
      for (const m of local) console.log(`  ${m.name.padEnd(16)} ${(m.bytes / 1048576).toFixed(0).padStart(6)} MB  ${m.official ? "official" : "other"}`);
      if (local.length === 0) console.log("  (none)");
      const missing = OFFICIAL_MODELS.filter((o) => !local.some((l) => l.name === o.name));
      if (missing.length) console.log(`pullable: ${missing.map((o) => `${o.name} (~${o.sizeMB} MB)`).join(", ")}`);
    });
  models
    .command("pull")
    .description("download an official whisper.cpp model with checksum verification")
    .argument("<name>", `one of ${OFFICIAL_MODELS.map((m) => m.name).join(", ")}`)
    .option("--force", "download again even if the file exists")
    .option("--base-url <url>", "mirror to download from (default: Hugging Face ggerganov/whisper.cpp)")
    .action(async (name: string, o: { force?: boolean; baseUrl?: string }) => {
      const dir = modelsDir(loadConfig());
      const path = await pullModel(name, dir, { force: o.force, baseUrl: o.baseUrl, out: process.stderr });
      console.log(path);
    });
}
