import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import fc from "fast-check";
import { registerCurriculumCommands } from "../../src/cli/curriculum.js";
import { loadConfig } from "../../src/config/index.js";
import { createCurriculumRetriever, MAX_RESULTS } from "../../src/curriculum/index.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

async function run(dataDir: string, args: string[]): Promise<string[]> {
  const p = new Command().exitOverride();
  registerCurriculumCommands(p, () => loadConfig({ env: { PARLANCE_DATA_DIR: dataDir, PARLANCE_LOG_LEVEL: "silent" } }));
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await p.parseAsync(["node", "parlance", ...args]);
  } finally {
    console.log = orig;
  }
  return lines;
}

test("cli: curriculum import is idempotent into the data dir's SQLite; search ranks for a level and tags", async () => {
  const dir = mkdtempSync(join(tmpdir(), "parlance-cli-"));
  try {
    const first = await run(dir, ["curriculum", "import", "examples/curriculum"]);
    assert.match(first[0]!, /^34 lessons from 34 files: 34 inserted, 0 updated, 0 unchanged$/);
    const again = await run(dir, ["curriculum", "import", "examples/curriculum"]);
    assert.match(again[0]!, /0 inserted, 0 updated, 34 unchanged/);
    const list = await run(dir, ["curriculum", "list"]);
    assert.equal(list.length, 34);
    const hits = await run(dir, ["curriculum", "search", "--level", "A2", "--tags", "verb_form", "I goed home, she buyed bread"]);
    assert.equal(hits[0]!.split("\t")[1], "verb-irregular-past");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("search -k outside 1..MAX_RESULTS is a usage error, never bent into range; the index refuses it too", async () => {
  const dir = mkdtempSync(join(tmpdir(), "parlance-cli-"));
  try {
    await run(dir, ["curriculum", "import", "examples/curriculum"]);
    // In range: exactly min(k, lessons that match) lines.
    assert.equal((await run(dir, ["curriculum", "search", "-k", "2", "past tense"])).length, 2);
    const repo = await createRepository(loadConfig({ env: { PARLANCE_DATA_DIR: dir } }), silentLogger);
    try {
      const index = createCurriculumRetriever(repo);
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: MAX_RESULTS + 1 }), fc.double({ noInteger: true })), async (k) => {
          await assert.rejects(run(dir, ["curriculum", "search", "-k", String(k), "past tense"]), (e: unknown) => e instanceof CommanderError && /-k must be an integer from 1 to 50/.test(e.message));
          await assert.rejects(index.search("past tense", { k }), RangeError);
        }),
        { numRuns: 30, seed: 1414 },
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: MAX_RESULTS }), async (k) => {
          assert.ok((await index.search("past tense", { k })).length <= k);
        }),
        { numRuns: 20, seed: 1415 },
      );
    } finally {
      await repo.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
