#!/usr/bin/env node
// Bundles the practice page (web/app.ts + the SDK) and its AudioWorklet into web/dist/, which the
// server serves at `/`. Browsers cannot import .ts, and the worklet must be one self-contained file.
// Usage: node scripts/build-web.mjs [--dev]   (--dev: no minification)
import { build } from "esbuild";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// zod re-exports every locale as a namespace (`export * as locales`), which defeats tree shaking
// and would add ~260 KB of translations to the page. Only English messages are used.
const englishOnlyZodLocales = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), "..", "locales", "en.js"), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};

export async function buildWeb({ minify = true, outdir = join(root, "web", "dist") } = {}) {
  const result = await build({
    entryPoints: { app: join(root, "web", "app.ts"), "capture-worklet": join(root, "web", "capture-worklet.ts") },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2020", "chrome90", "firefox90", "safari15"],
    minify,
    sourcemap: true,
    logLevel: "warning",
    metafile: true,
    plugins: [englishOnlyZodLocales],
  });
  return Object.fromEntries(Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith(".js")).map(([f, o]) => [f, o.bytes]));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outputs = await buildWeb({ minify: !process.argv.includes("--dev") });
  for (const [file, bytes] of Object.entries(outputs)) console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`);
}
