// bench:opus: what `encoding: "opus"` costs and saves per stream. For jfk.wav encoded by ffmpeg's
// libopus at several bitrates, in Ogg and WebM: bytes on the wire (kbit/s, container included)
// against 16 kHz s16 PCM, and the server's decode CPU (demux + libopus WASM + downmix) per second
// of audio, fed in 250 ms frames as a client sends them; PCM ingest for comparison; memory per
// open decoder.
// Usage: npm run bench:opus [-- --repeat 20]   (needs ffmpeg to make the inputs)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAudioIngest } from "../../src/audio/ingest.js";
import { createOpusIngest } from "../../src/audio/opus.js";

const AUDIO = resolve(process.env.PARLANCE_AUDIO_DIR ?? "../shared/audio");
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1] || 20);
const wav = join(AUDIO, "jfk.wav");
const dir = mkdtempSync(join(tmpdir(), "parlance-bench-opus-"));

function cpuMs<T>(fn: () => T): { ms: number; value: T } {
  const a = process.cpuUsage();
  const value = fn();
  const d = process.cpuUsage(a);
  return { ms: (d.user + d.system) / 1000, value };
}

try {
  const pcm = readFileSync(wav).subarray(44);
  const seconds = pcm.length / 32000;
  const rows: string[] = [];
  rows.push("| input | bytes | kbit/s on the wire | vs PCM | decode CPU ms per audio s | CPU share of one core per stream |", "|---|---|---|---|---|---|");
  // PCM: validation + conversion only (16 kHz in: no resampling).
  {
    const frames: Buffer[] = [];
    for (let at = 0; at < pcm.length; at += 8000) frames.push(pcm.subarray(at, at + 8000));
    const r = cpuMs(() => {
      for (let i = 0; i < repeat; i++) {
        const ing = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 16000, channels: 1 });
        for (const f of frames) ing.decode(f);
      }
    });
    const per = r.ms / repeat / seconds;
    rows.push(`| PCM s16le 16 kHz | ${pcm.length} | ${((pcm.length * 8) / seconds / 1000).toFixed(0)} | 1 | ${per.toFixed(2)} | ${((per / 1000) * 100).toFixed(2)} % |`);
  }
  for (const kbps of [16, 24, 32]) {
    for (const ext of ["ogg", "webm"]) {
      const out = join(dir, `jfk-${kbps}.${ext}`);
      execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", wav, "-c:a", "libopus", "-b:a", `${kbps}k`, out]);
      const bytes = readFileSync(out);
      const frameBytes = Math.ceil((bytes.length / seconds) * 0.25);
      const frames: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += frameBytes) frames.push(bytes.subarray(at, at + frameBytes));
      const ings: ReturnType<typeof createOpusIngest>[] = [];
      for (let i = 0; i < repeat; i++) ings.push(createOpusIngest());
      await Promise.all(ings.map((i) => i.ready));
      let samples = 0;
      const r = cpuMs(() => {
        for (const ing of ings) for (const f of frames) samples += ing.decode(f).length;
      });
      for (const ing of ings) ing.close();
      const per = r.ms / repeat / seconds;
      const rate = (bytes.length * 8) / seconds / 1000;
      rows.push(`| ${ext === "ogg" ? "Ogg" : "WebM"}/Opus ${kbps} kbit/s | ${bytes.length} | ${rate.toFixed(1)} | 1/${((pcm.length * 8) / seconds / 1000 / rate).toFixed(1)} | ${per.toFixed(2)} | ${((per / 1000) * 100).toFixed(2)} % |`);
      if (Math.abs(samples / repeat / 16000 - seconds) > 0.1) throw new Error(`decoded ${samples / repeat / 16000} s of ${seconds} s`);
    }
  }
  // Memory of open decoders (each session holds one while it streams).
  const global = globalThis as { gc?: () => void };
  global.gc?.();
  const before = process.memoryUsage().rss;
  const open: ReturnType<typeof createOpusIngest>[] = [];
  for (let i = 0; i < 100; i++) open.push(createOpusIngest());
  await Promise.all(open.map((o) => o.ready));
  const perDecoder = (process.memoryUsage().rss - before) / 100 / 1024;
  for (const o of open) o.close();
  console.log(`jfk.wav, ${seconds.toFixed(1)} s, 250 ms frames, ${repeat} repeats; load ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  console.log(rows.join("\n"));
  console.log(`open decoders: ~${perDecoder.toFixed(0)} KiB RSS each (100 opened)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
