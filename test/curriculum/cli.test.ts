import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { registerCurriculumCommands } from "../../src/cli/curriculum.js";
import { loadConfig } from "../../src/config/index.js";

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
