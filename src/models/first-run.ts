// First start in dev mode (`npm start`): when the models the server would load are missing,
// download them (asked on a terminal; without asking with `--pull` or PARLANCE_AUTO_PULL=1), or
// say exactly which command does it. The server starts either way: without Whisper it serves the
// page and refuses sessions with `stt_unavailable`, so the page can say "not set up".
import { createInterface } from "node:readline/promises";
import { modelsDir, type Config } from "../config/index.js";
import { downloadModel, downloadOptions, type DownloadResult } from "./download.js";
import { serverModels, type ServerModel } from "./server-models.js";

export interface FirstRunOptions {
  /** `serve --pull` or PARLANCE_AUTO_PULL: download without asking. */
  pull: boolean;
  /** A person at a terminal can be asked (stdin and the output are TTYs). */
  interactive: boolean;
  /** Asks a yes/no question (default: readline on stdin). */
  ask?: (question: string) => Promise<boolean>;
  /** Prompt, progress and instructions (stderr: stdout carries the banner). */
  out: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface FirstRunResult {
  pulled: DownloadResult[];
  /** Still missing after this step (declined, failed or not pullable). */
  missing: ServerModel[];
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(question)).trim();
    return answer === "" || /^y(es)?$/i.test(answer);
  } finally {
    rl.close();
  }
}

export function pullCommand(models: ServerModel[]): string {
  const names = models.flatMap((m) => (m.entry ? [m.entry.name] : []));
  return `npx parlance models pull ${names.join(" ")}`.trim();
}

function describe(m: ServerModel): string {
  const what = m.kind === "whisper" ? "speech recognition (Whisper)" : "feedback LLM";
  return m.entry
    ? `  ${what}: ${m.entry.name}, ${m.entry.file}, ~${m.entry.sizeMB} MB, from ${m.entry.url}`
    : `  ${what}: ${m.path} (not in the catalogue: place the file there or change ${m.setting})`;
}

export async function ensureFirstRunModels(config: Config, opts: FirstRunOptions): Promise<FirstRunResult> {
  const missing = serverModels(config).filter((m) => !m.present);
  if (!config.dev || missing.length === 0) return { pulled: [], missing };
  const out = opts.out;
  const pullable = missing.filter((m) => m.entry);
  const dir = modelsDir(config);
  out.write(`\nparlance is not set up yet: these models are missing from ${dir}:\n${missing.map(describe).join("\n")}\n`);
  let go = opts.pull;
  if (!go && pullable.length > 0 && opts.interactive) {
    go = await (opts.ask ?? askOnTerminal)(`Download ${pullable.map((m) => m.entry!.name).join(" and ")} now (~${pullable.reduce((n, m) => n + m.entry!.sizeMB, 0)} MB)? [Y/n] `);
  }
  const pulled: DownloadResult[] = [];
  const still: ServerModel[] = missing.filter((m) => !m.entry);
  if (go) {
    for (const m of pullable) {
      try {
        const r = await downloadModel(m.entry!, dir, {
          ...downloadOptions(config.models),
          out,
          warn: (w) => out.write(`${w}\n`),
        });
        pulled.push(r);
        out.write(`${m.entry!.name}: ${r.path} (${r.verified === "official" ? `sha256 ${r.sha256} matches the published checksum` : "checksum from the trusted mirror manifest, NOT the official one"})\n`);
      } catch (e) {
        out.write(`${m.entry!.name}: ${(e as Error).message}\n`);
        still.push(m);
      }
    }
  } else still.push(...pullable);
  if (still.length > 0) {
    const stt = still.some((m) => m.kind === "whisper");
    out.write(
      `${stt ? "Speech recognition is not set up: the practice page will say so and sessions are refused (stt_unavailable) until it is.\n" : ""}` +
        `${still.some((m) => m.kind === "llm") ? "Without the LLM, reports carry the measured parts only (status pending) until it is there.\n" : ""}` +
        (still.some((m) => m.entry) ? `To download: ${pullCommand(still)}   (or: npm start -- --pull)\n` : "") +
        "\n",
    );
  }
  return { pulled, missing: still };
}
