// Model resolution and `models pull` against a real HTTP server on loopback.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, existsSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { pullModel, registerModelsCommands, ModelDownloadError } from "../../src/cli/models.js";
import { OFFICIAL_MODELS, resolveModelPath, listLocalModels } from "../../src/stt/models.js";
import { ModelNotFoundError } from "../../src/stt/errors.js";
import { ConfigSchema } from "../../src/config/index.js";

const dir = mkdtempSync(join(tmpdir(), "parlance-models-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// The official entries are real; the test swaps in a small body with a matching digest.
const payload = Buffer.from("ggml fake model bytes ".repeat(5000));
const good = OFFICIAL_MODELS.find((m) => m.name === "tiny.en")!;
const saved = { sha256: good.sha256, sha1: good.sha1 };

const server = createServer((req, res) => {
  if (req.url === "/ggml-tiny.en.bin" || req.url === "/ggml-base.en.bin") {
    res.writeHead(200, { "content-length": payload.length });
    res.end(payload);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
after(() => new Promise<void>((r) => server.close(() => r())));

test("pull downloads, verifies the checksum and renames into place", async () => {
  (good as { sha256?: string }).sha256 = createHash("sha256").update(payload).digest("hex");
  try {
    const p = await pullModel("tiny.en", dir, { baseUrl: base });
    assert.equal(p, join(dir, "ggml-tiny.en.bin"));
    assert.deepEqual(readFileSync(p), payload);
    assert.deepEqual(readdirSync(dir), ["ggml-tiny.en.bin"], "no partial file left");
    assert.equal(resolveModelPath("tiny.en", dir), p);
    assert.equal(listLocalModels(dir)[0]!.name, "tiny.en");
  } finally {
    (good as { sha256?: string }).sha256 = saved.sha256;
  }
});

test("a checksum mismatch fails and leaves nothing behind", async () => {
  // base.en keeps its real sha256: the loopback bytes cannot match it.
  await assert.rejects(pullModel("base.en", dir, { baseUrl: base }), (e: unknown) => e instanceof ModelDownloadError && /checksum mismatch/.test(e.message));
  assert.ok(!existsSync(join(dir, "ggml-base.en.bin")));
  assert.ok(!readdirSync(dir).some((f) => f.includes(".part")));
});

test("unknown names and HTTP errors are typed errors", async () => {
  await assert.rejects(pullModel("huge.xx", dir, { baseUrl: base }), ModelDownloadError);
  await assert.rejects(pullModel("small.en", dir, { baseUrl: base }), /HTTP 404/);
});

test("resolveModelPath takes names or paths and explains a miss", () => {
  const f = join(dir, "custom.bin");
  writeFileSync(f, "x");
  assert.equal(resolveModelPath(f, "/nonexistent"), f);
  assert.throws(() => resolveModelPath("medium.en", dir), (e: unknown) => e instanceof ModelNotFoundError && /models pull medium.en/.test(e.message));
});

test("`models pull` and `models list` are registered on the CLI", async () => {
  const program = new Command().exitOverride();
  const cfg = ConfigSchema.parse({ modelsDir: dir });
  registerModelsCommands(program, () => cfg);
  const logs: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    await program.parseAsync(["node", "parlance", "models", "list"]);
  } finally {
    console.log = orig;
  }
  assert.ok(logs.some((l) => /tiny\.en/.test(l)));
  assert.ok(logs.some((l) => /pullable: .*base\.en/.test(l)));
  void saved;
});
