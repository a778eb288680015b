// Comments and docs that name a file of this repository name one that exists: a renamed or deleted
// file leaves no pointer behind (src/audio/vad.ts sent readers to a src/stt/guards.ts that was gone).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(p) ? [p] : [];
  });
}

/** Repo paths with a file name: src/x/y.ts, docs/z.md, test/a.test.ts (not runtime outputs like bench/out). */
const PATH = /(?<![\w/.@:-])((?:src|test|bench|docs|scripts|examples|web|bin)\/[\w./-]*[\w-]\.[a-z]{1,5})\b/g;

/** Files a doc asks the reader to create (docs/architecture.md, "Adding an engine"). */
const EXAMPLES = new Set(["src/stt/acme.ts"]);

function comments(ts: string): string {
  return (ts.match(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g) ?? []).join("\n");
}

test("every repo path in a src/ comment or a doc exists", () => {
  const sources = [...files("src", /\.ts$/), ...files("web", /\.ts$/)].map((f) => [f, comments(readFileSync(f, "utf8"))] as const);
  const docs = [...files("docs", /\.md$/), "README.md"].map((f) => [f, readFileSync(f, "utf8")] as const);
  const missing: string[] = [];
  for (const [file, text] of [...sources, ...docs]) {
    for (const m of text.matchAll(PATH)) if (!existsSync(m[1]!) && !EXAMPLES.has(m[1]!)) missing.push(`${file}: ${m[1]}`);
  }
  assert.ok(sources.length > 50 && docs.length > 5);
  assert.deepEqual(missing, []);
});

test("every relative link in a doc points to a file that exists", () => {
  const missing: string[] = [];
  for (const f of [...files("docs", /\.md$/), "README.md"]) {
    for (const m of readFileSync(f, "utf8").matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      if (!existsSync(normalize(join(dirname(f), target)))) missing.push(`${f}: ${target}`);
    }
  }
  assert.deepEqual(missing, []);
});
