// `parlance stream` as a child process against a real gateway: finals printed, JSON report,
// --speed pacing, ffmpeg sources, auth failure exit code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Report } from "../../src/protocol/report.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { hsToken } from "../helpers/tokens.js";
import { tempDir } from "../helpers/gateway.js";
import { startClientTestServer, type ClientTestServer } from "./_server.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", "test/client/_cli-entry.ts", "stream", ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

async function common(gw: ClientTestServer) {
  const dir = tempDir();
  const ca = join(dir, "ca.pem");
  writeFileSync(ca, gw.ca);
  return ["--url", gw.wsUrl, "--token", await hsToken({ sub: "cli-user" }), "--ca", ca];
}

test("--json: finals on stderr as they commit, a valid report on stdout; --speed 4 paces 11 s of audio in a quarter of real time (measured against --speed 2 in the same run)", async () => {
  const gw = await startClientTestServer();
  const base = await common(gw);
  const fast = await runCli([join(AUDIO_DIR, "jfk.wav"), ...base, "--speed", "4", "--json"]);
  assert.equal(fast.code, 0, fast.stderr);
  const report = Report.parse(JSON.parse(fast.stdout));
  assert.match(report.transcript.text, /fellow Americans/);
  assert.match(fast.stderr, /fellow Americans/); // the live finals
  assert.equal(gw.receivedSeconds().length, 1);
  assert.ok(Math.abs(gw.receivedSeconds()[0]! - 11) < 0.01, `server received ${gw.receivedSeconds()[0]} s`);

  // Ratio within one run instead of a wall-clock threshold: 11 s at 2x vs 4x. Start-up (tsx,
  // TLS, analysis) is the same in both, so the difference is the pacing alone.
  const slow = await runCli([join(AUDIO_DIR, "jfk.wav"), ...base, "--speed", "2", "--json"]);
  assert.equal(slow.code, 0, slow.stderr);
  const pacedFast = fast.seconds;
  const pacedSlow = slow.seconds;
  const diff = pacedSlow - pacedFast; // ≈ 11/2 - 11/4 = 2.75 s if pacing is honest
  assert.ok(diff > 2.75 * 0.7 && diff < 2.75 * 1.5, `2x took ${pacedSlow.toFixed(2)} s, 4x ${pacedFast.toFixed(2)} s`);
  console.log(`jfk.wav (11 s): --speed 4 ${pacedFast.toFixed(2)} s, --speed 2 ${pacedSlow.toFixed(2)} s wall`);
});

test("pretty output: finals as lines, then the report with corrections, fluency and level; mp3 through ffmpeg", async () => {
  const gw = await startClientTestServer();
  const run = await runCli([join(AUDIO_DIR, "jfk.mp3"), ...(await common(gw)), "--speed", "8"]);
  assert.equal(run.code, 0, run.stderr);
  const [live, report] = run.stdout.split("== Report ==");
  assert.match(live ?? "", /fellow Americans/);
  assert.ok((live ?? "").trim().split("\n").length >= 2, "several finals, one per line");
  assert.doesNotMatch(live ?? "", /\r/); // not a TTY: no redrawn partial line
  assert.match(report ?? "", /\[ask not -> do not ask\]/);
  assert.match(report ?? "", /Fluency:/);
  assert.match(report ?? "", /Level: B2/);
  assert.match(report ?? "", /https:\/\/example\.org\/lessons\/neg-imp/);
  // ffmpeg decoded mp3 to 16 kHz mono: about 11 s arrived
  assert.ok(Math.abs(gw.receivedSeconds()[0]! - 11) < 0.3, `server received ${gw.receivedSeconds()[0]} s`);
});

test("exit codes: bad token 3, untrusted certificate 1, unreadable input 2", async () => {
  const gw = await startClientTestServer();
  const wav = join(AUDIO_DIR, "librispeech-7902-96591-0000.wav");
  const bad = await runCli([wav, "--url", gw.wsUrl, "--token", "nope", "--insecure"]);
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /authentication failed/);
  const untrusted = await runCli([wav, "--url", gw.wsUrl, "--token", await hsToken()]);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /--ca|--insecure/);
  const missing = await runCli(["/nonexistent.wav", "--url", gw.wsUrl, "--token", "x"]);
  assert.equal(missing.code, 2);
});
