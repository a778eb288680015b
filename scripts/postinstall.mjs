#!/usr/bin/env node
// smart-whisper compiles whisper.cpp with node-gyp's default flags, which carry no AVX: that build
// is 8-10x slower (docs/stt-engine.md). npm does not pass CFLAGS from .npmrc, so rebuild the addon
// here with AVX2/FMA/F16C when this CPU has them. A CPU without AVX2 keeps the portable build.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

function rebuildWhisper() {
  let pkgDir;
  try {
    pkgDir = dirname(require.resolve("smart-whisper/package.json"));
  } catch {
    return; // not installed (e.g. --omit=dev style installs): nothing to do
  }

  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const hasAvx2 = /\bavx2\b/.test(cpuinfo) && /\bfma\b/.test(cpuinfo) && /\bf16c\b/.test(cpuinfo);
  const marker = join(pkgDir, "build", ".parlance-simd");
  const wanted = hasAvx2 ? "avx2" : "portable";
  if (existsSync(marker) && readFileSync(marker, "utf8") === wanted) return;
  if (!hasAvx2) {
    console.log("[parlance] CPU lacks AVX2/FMA/F16C: keeping smart-whisper's portable build (slower).");
    return;
  }
  const flags = "-O3 -mavx -mavx2 -mfma -mf16c";
  console.log("[parlance] rebuilding smart-whisper with AVX2 (about a minute)...");
  const env = { ...process.env, CFLAGS: flags, CXXFLAGS: flags };
  const gyp = spawnSync(process.execPath, [require.resolve("node-gyp/bin/node-gyp.js"), "rebuild"], {
    cwd: pkgDir,
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (gyp.status !== 0) {
    console.warn("[parlance] AVX2 rebuild of smart-whisper failed; trying the portable build.");
    execFileSync(process.execPath, [require.resolve("node-gyp/bin/node-gyp.js"), "rebuild"], { cwd: pkgDir, stdio: "inherit" });
    return;
  }
  mkdirSync(join(pkgDir, "build"), { recursive: true });
  writeFileSync(marker, wanted);
  console.log("[parlance] smart-whisper built with AVX2.");
}

rebuildWhisper();

// The practice page is bundled from TypeScript; a fresh clone has no web/dist, and `npm start`
// must serve a working page without a separate build step.
const { buildWeb } = await import("./build-web.mjs");
await buildWeb();
console.log("[parlance] practice page bundled into web/dist.");
