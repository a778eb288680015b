// Acceptance: BM25 alone puts the expected lesson in the top 3 for >= 90 % of the hand-written
// error examples (test/fixtures/retrieval/errors.yaml) over the sample curriculum.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { silentLogger } from "../../src/util/log.js";
import { importCurriculum, DEFAULT_CURRICULUM_DIR, buildErrorQuery, CurriculumIndex, KNOWN_TAGS } from "../../src/curriculum/index.js";
import { ErrorType } from "../../src/protocol/report.js";

// `type` is an error type, or a skill tag (fillers) for speech-level issues.
const Case = z.object({ type: z.string().refine((t) => KNOWN_TAGS.has(t)), sentence: z.string(), original: z.string(), correction: z.string(), expected: z.string() });
const cases = z.array(Case).parse(parse(readFileSync(new URL("../fixtures/retrieval/errors.yaml", import.meta.url), "utf8")));

test("retrieval eval: BM25 top-3 hit rate over the sample curriculum >= 90 %", async () => {
  assert.ok(cases.length >= 40, `need >= 40 cases, have ${cases.length}`);
  const repo = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await repo.migrate();
  await importCurriculum(repo, DEFAULT_CURRICULUM_DIR, silentLogger);
  const lessons = new Map((await repo.listLessons()).map((l) => [l.id, l]));
  // Every error type the sample curriculum tags is covered by the set, and every expected lesson exists.
  const tagged = new Set([...lessons.values()].flatMap((l) => l.tags).filter((t) => ErrorType.options.includes(t as ErrorType)));
  const covered = new Set<string>(cases.map((c) => c.type));
  for (const c of cases) assert.ok(lessons.has(c.expected), `unknown expected lesson ${c.expected}`);

  const index = new CurriculumIndex(repo); // no embedder: BM25 alone
  let top1 = 0;
  let top3 = 0;
  const misses: string[] = [];
  for (const c of cases) {
    const got = (await index.search(buildErrorQuery(c), { k: 3 })).map((r) => r.lesson.id);
    if (got[0] === c.expected) top1++;
    if (got.includes(c.expected)) top3++;
    else misses.push(`${c.type} "${c.original}" -> ${c.correction}: expected ${c.expected}, got ${got.join(", ")}`);
  }
  const rate = top3 / cases.length;
  console.log(`retrieval eval (BM25 only): top-3 ${top3}/${cases.length} = ${(rate * 100).toFixed(1)} %, top-1 ${top1}/${cases.length} = ${((top1 / cases.length) * 100).toFixed(1)} %`);
  for (const m of misses) console.log(`  miss: ${m}`);
  const uncovered = [...tagged].filter((t) => !covered.has(t) && t !== "missing_word");
  assert.deepEqual(uncovered, [], "error types in the curriculum without an eval case");
  assert.ok(rate >= 0.9, `top-3 rate ${(rate * 100).toFixed(1)} % < 90 %`);
  await repo.close();
});
