// Downloads one catalogue file into the models directory: from its official URL or a mirror
// (models.baseUrl: every file by its file name), with a progress bar, resume of a partial
// download (HTTP Range), and a checksum check before the file is renamed into place, so a server
// never sees a half-written or unverified model.
//
// Verification: the file must match the catalogue's published checksum. The one exception is
// explicit: with models.trustMirrorChecksums set and a mirror configured, a file whose checksum
// differs (or that has none published) is accepted when the mirror's own SHA256SUMS lists it; a
// warning says so every time. For operators who rebuild or convert files themselves, and for
// tests on machines that only have such a conversion.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { CatalogueEntry } from "./catalogue.js";
import { ConfigSchema, type Config } from "../config/index.js";
import { fetchCappedText } from "../util/capped-fetch.js";

export class ModelDownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelDownloadError";
  }
}

export interface DownloadOptions {
  /** A mirror serving each file at `<baseUrl>/<file>` (and optionally `<baseUrl>/SHA256SUMS`). */
  baseUrl?: string;
  /** Accept files the mirror's SHA256SUMS lists even where they differ from the published checksum. */
  trustMirrorChecksums?: boolean;
  /** Download again even if the file is there. */
  force?: boolean;
  /** Resume attempts within this call after a cut (or stalled) connection. */
  retries?: number;
  /** Wait before the first resume (ms); doubles for each further one. */
  retryBaseMs?: number;
  /** A response that sends no bytes for this long is cut and resumed like a dropped connection (ms). */
  stallMs?: number;
  /** A mirror's SHA256SUMS larger than this is not read (bytes). */
  checksumListMaxBytes?: number;
  /** Where the progress goes: a redrawn bar on a TTY, a line every 10 % otherwise. */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Warnings (an accepted mirror checksum). */
  warn?: (message: string) => void;
}

export interface DownloadResult {
  path: string;
  /** "present": already there (not re-hashed); "official": matches the published checksum; "mirror": accepted from the trusted mirror manifest. */
  verified: "present" | "official" | "mirror";
  sha256: string | null;
  /** Bytes that were already on disk from an earlier, interrupted download. */
  resumedFrom: number;
}

const PARTIAL = ".partial";

function fmtMB(bytes: number): string {
  return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0);
}

function progress(entry: CatalogueEntry, out: DownloadOptions["out"]) {
  const tty = Boolean(out?.isTTY);
  let lastDraw = 0;
  let lastDecile = -1;
  return (got: number, total: number, done = false) => {
    if (!out) return;
    const frac = total > 0 ? Math.min(1, got / total) : 0;
    if (tty) {
      const now = Date.now();
      if (!done && now - lastDraw < 100) return;
      lastDraw = now;
      const bar = "#".repeat(Math.round(frac * 30)).padEnd(30, "-");
      out.write(`\r${entry.name} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${fmtMB(got)}/${fmtMB(total)} MB${done ? "\n" : ""}`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > lastDecile || done) {
      if (decile === lastDecile && done) return;
      lastDecile = decile;
      out.write(`${entry.name}: ${(frac * 100).toFixed(0)}% (${fmtMB(got)}/${fmtMB(total)} MB)\n`);
    }
  };
}

async function hashFile(path: string, algo: "sha256" | "sha1"): Promise<string> {
  const h = createHash(algo);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** `<hex>  <file>` lines (sha256sum's format; a `*` before the name is allowed). */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$/.exec(line);
    if (m) out.set(m[2]!, m[1]!.toLowerCase());
  }
  return out;
}

function sourceUrl(entry: CatalogueEntry, baseUrl?: string): string {
  return baseUrl ? `${baseUrl.replace(/\/+$/, "")}/${encodeURIComponent(entry.file)}` : entry.url;
}

/** The download settings of config.models, as options (the CLI may override some). */
export function downloadOptions(m: Config["models"]): DownloadOptions {
  return {
    baseUrl: m.baseUrl,
    trustMirrorChecksums: m.trustMirrorChecksums,
    retries: m.downloadRetries,
    retryBaseMs: m.downloadRetryBaseMs,
    stallMs: m.downloadStallMs,
    checksumListMaxBytes: m.checksumListMaxBytes,
  };
}

const DEFAULTS = downloadOptions(ConfigSchema.shape.models.parse(undefined));

async function mirrorSum(entry: CatalogueEntry, baseUrl: string, maxBytes: number, stallMs: number): Promise<string | null> {
  const url = `${baseUrl.replace(/\/+$/, "")}/SHA256SUMS`;
  // Streamed against the cap: a mirror's answer is not trusted to be small.
  const res = await fetchCappedText(url, { signal: AbortSignal.timeout(stallMs) }, maxBytes).catch(() => null);
  if (!res || res.status !== 200) return null;
  return parseSha256Sums(res.text).get(entry.file) ?? null;
}

/** Aborts `ac` once `ms` pass without a call to kick(): a server that stops sending mid-body. */
function stallWatch(ac: AbortController, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const kick = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(new StalledError(ms)), ms);
  };
  kick();
  return { kick, stop: () => clearTimeout(timer) };
}

class StalledError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = "StalledError";
  }
}

/** One attempt: continues `<dest>.partial` from its current size. Resolves when the body has been written. */
async function fetchInto(entry: CatalogueEntry, url: string, partial: string, draw: ReturnType<typeof progress>, stallMs: number): Promise<{ total: number }> {
  const ac = new AbortController();
  const watch = stallWatch(ac, stallMs);
  try {
    return await fetchBody(entry, url, partial, draw, ac.signal, watch.kick, stallMs);
  } finally {
    watch.stop();
  }
}

async function fetchBody(
  entry: CatalogueEntry,
  url: string,
  partial: string,
  draw: ReturnType<typeof progress>,
  signal: AbortSignal,
  kick: () => void,
  stallMs: number,
): Promise<{ total: number }> {
  const have = existsSync(partial) ? statSync(partial).size : 0;
  const res = await fetch(url, { redirect: "follow", headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal }).catch((e: unknown) => {
    // No answer at all is retried like a cut body; a refused connection is final.
    if (signal.reason instanceof StalledError) throw signal.reason;
    throw new ModelDownloadError(`download of ${url} failed: ${(e as Error).message}`);
  });
  kick();
  let append = false;
  let total: number;
  if (res.status === 206 && have > 0) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== have) {
      await res.body?.cancel();
      rmSync(partial, { force: true });
      throw new ModelDownloadError(`${url}: the server resumed at the wrong offset (${res.headers.get("content-range")}); the partial file was discarded`);
    }
    append = true;
    total = m[2] === "*" ? have + Number(res.headers.get("content-length") ?? 0) : Number(m[2]);
  } else if (res.status === 416 && have > 0) {
    // The partial file is already whole (or longer than the file): start again.
    await res.body?.cancel();
    rmSync(partial, { force: true });
    return fetchBody(entry, url, partial, draw, signal, kick, stallMs);
  } else if (res.ok && res.body) {
    total = Number(res.headers.get("content-length")) || entry.sizeMB * 1048576; // 200: the server ignored the Range; start over
  } else {
    await res.body?.cancel().catch(() => undefined);
    throw new ModelDownloadError(`download of ${url} failed: HTTP ${res.status}`);
  }
  let got = append ? have : 0;
  const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  body.on("data", (chunk: Buffer) => {
    kick();
    got += chunk.length;
    draw(got, total);
  });
  await pipeline(body, createWriteStream(partial, { flags: append ? "a" : "w" }));
  if (got < total) throw new Error(`connection closed at ${got} of ${total} bytes`);
  draw(got, total, true);
  return { total };
}

export async function downloadModel(entry: CatalogueEntry, dir: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, entry.file);
  if (existsSync(dest) && !opts.force) return { path: dest, verified: "present", sha256: null, resumedFrom: 0 };
  const trustMirror = Boolean(opts.trustMirrorChecksums && opts.baseUrl);
  if (!entry.sha256 && !entry.sha1 && !trustMirror) {
    throw new ModelDownloadError(
      `${entry.name}: no published checksum is recorded for ${entry.file}, so it cannot be verified; download it yourself, or serve it from a mirror with a SHA256SUMS and set PARLANCE_MODELS_TRUST_MIRROR_CHECKSUMS=1`,
    );
  }
  const url = sourceUrl(entry, opts.baseUrl);
  const partial = dest + PARTIAL;
  if (opts.force) rmSync(partial, { force: true });
  const resumedFrom = existsSync(partial) ? statSync(partial).size : 0;
  const draw = progress(entry, opts.out);
  const retries = opts.retries ?? DEFAULTS.retries!;
  const stallMs = opts.stallMs ?? DEFAULTS.stallMs!;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchInto(entry, url, partial, draw, stallMs);
      break;
    } catch (e) {
      if (opts.out?.isTTY) opts.out.write("\n");
      const have = existsSync(partial) ? statSync(partial).size : 0;
      // Refusals (HTTP errors, a wrong resume offset, no server) are final; a cut body is resumed.
      if (e instanceof ModelDownloadError) throw e;
      if (attempt >= retries) {
        throw new ModelDownloadError(
          `download of ${url} was interrupted at ${fmtMB(have)} MB (${(e as Error).message}); run the same command again to resume from there`,
        );
      }
      opts.out?.write(`${entry.name}: connection lost at ${fmtMB(have)} MB; resuming (${attempt + 1}/${retries})\n`);
      await new Promise((r) => setTimeout(r, (opts.retryBaseMs ?? DEFAULTS.retryBaseMs!) * 2 ** attempt));
    }
  }

  const sha256 = await hashFile(partial, "sha256");
  let verified: DownloadResult["verified"] | null = null;
  if (entry.sha256 ? sha256 === entry.sha256 : entry.sha1 ? (await hashFile(partial, "sha1")) === entry.sha1 : false) verified = "official";
  else if (trustMirror) {
    const listed = await mirrorSum(entry, opts.baseUrl!, opts.checksumListMaxBytes ?? DEFAULTS.checksumListMaxBytes!, stallMs);
    if (listed === sha256) {
      verified = "mirror";
      opts.warn?.(
        `WARNING: ${entry.file} (sha256 ${sha256}) ${entry.sha256 || entry.sha1 ? `does not match the published checksum (${entry.sha256 ?? `sha1 ${entry.sha1}`})` : "has no published checksum"}; ` +
          `accepted only because PARLANCE_MODELS_TRUST_MIRROR_CHECKSUMS is set and the mirror's SHA256SUMS lists it. It is not the official file.`,
      );
    }
  }
  if (!verified) {
    rmSync(partial, { force: true });
    throw new ModelDownloadError(
      `checksum mismatch for ${entry.file} from ${url}: got sha256 ${sha256}, expected ${entry.sha256 ?? `sha1 ${entry.sha1 ?? "(none published)"}`}${trustMirror ? " (and the mirror's SHA256SUMS does not list this file with that checksum)" : ""}; the download was discarded`,
    );
  }
  renameSync(partial, dest); // atomic: a server never sees a half-written model
  return { path: dest, verified, sha256, resumedFrom };
}
