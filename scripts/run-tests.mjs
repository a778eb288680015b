#!/usr/bin/env node
// Node 20's test runner does not expand globs or find .ts files, so list test files here.
// Usage: npm test [-- path-or-substring ...]   (filters test files by substring)
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawn } from "node:child_process";

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk("test")
  .map((f) => relative(".", f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched", filters);
  process.exit(1);
}
// Test files run one at a time: the real engines (whisper, llama) are sized for this 2-core
// machine's cores and would only slow each other down in parallel.
const args = ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files];
const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
