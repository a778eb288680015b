// One model-path rule for Whisper and LLM files (util/model-path.ts), through both callers.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { findModelFile } from "../../src/util/model-path.js";
import { resolveModelPath as whisperPath } from "../../src/stt/models.js";
import { resolveModelPath as llmPath } from "../../src/analysis/models/factory.js";
import { ModelNotFoundError } from "../../src/stt/errors.js";
import { ConfigSchema } from "../../src/config/index.js";

const root = mkdtempSync(join(tmpdir(), "parlance-model-path-"));
after(() => rmSync(root, { recursive: true, force: true }));
const dir = join(root, "models");
mkdirSync(dir);
mkdirSync(join(root, "elsewhere"));
writeFileSync(join(dir, "ggml-tiny.en.bin"), "w");
writeFileSync(join(dir, "custom.bin"), "w");
writeFileSync(join(dir, "chat.gguf"), "l");
writeFileSync(join(root, "elsewhere", "x.gguf"), "l");
mkdirSync(join(dir, "a-directory.bin"));

test("absolute paths as is, relative paths from the working directory, bare names only in the models dir", () => {
  const abs = join(root, "elsewhere", "x.gguf");
  assert.equal(findModelFile(abs, dir).path, abs);
  const rel = relative(process.cwd(), abs);
  assert.ok(rel.includes("/"));
  assert.equal(findModelFile(rel, dir).path, abs);
  assert.equal(findModelFile("tiny.en", dir, (n) => [`ggml-${n}.bin`]).path, join(dir, "ggml-tiny.en.bin"));
  assert.equal(findModelFile("custom.bin", dir, (n) => [`ggml-${n}.bin`]).path, join(dir, "custom.bin"), "then the name as is");
  assert.equal(findModelFile("a-directory.bin", dir).path, null, "a directory is not a model file");
  const miss = findModelFile("none.gguf", dir);
  assert.equal(miss.path, null);
  assert.deepEqual(miss.candidates, [join(dir, "none.gguf")]);
});

test("both model kinds resolve through the one rule", () => {
  assert.equal(whisperPath("tiny.en", dir), join(dir, "ggml-tiny.en.bin"));
  assert.throws(() => whisperPath("base.en", dir), ModelNotFoundError);
  const cfg = (model?: string) => ConfigSchema.parse({ modelsDir: dir, llm: model ? { model } : {} });
  assert.equal(llmPath(cfg("chat.gguf")), join(dir, "chat.gguf"));
  assert.equal(llmPath(cfg(join(root, "elsewhere", "x.gguf"))), join(root, "elsewhere", "x.gguf"));
  assert.equal(llmPath(cfg("missing.gguf")), join(dir, "missing.gguf"), "missing: where it is expected");
});
