import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { silentLogger } from "../../src/util/log.js";
import { importCurriculum, CurriculumError, DEFAULT_CURRICULUM_DIR, importConfiguredCurriculum } from "../../src/curriculum/index.js";
import { ConfigSchema } from "../../src/config/index.js";

async function memRepo() {
  const r = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await r.migrate();
  return r;
}

function tree(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "parlance-cur-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const md = (id: string, extra = "") => `---\nid: ${id}\ntitle: Lesson ${id}\nlevel: b1\ntags: [article, Fluency]\n${extra}---\n\nBody of ${id}.\n`;

test("import: Markdown, JSON and YAML; idempotent by content hash; updates; prune", async () => {
  const dir = tree({
    "a.md": md("one"),
    "sub/b.json": JSON.stringify({ lessons: [{ id: "two", title: "Two", tags: "tense, verb_form", body: "Past forms.", url: "/lessons/two" }] }),
    "c.yaml": "- id: three\n  title: Three\n  level: A2\n  tags: [plural]\n  body: Plural nouns.\n- id: four\n  title: Four\n  body: No tags.\n",
    "README.md": "# not a lesson",
    "notes.txt": "ignored",
  });
  const repo = await memRepo();
  try {
    assert.deepEqual(await importCurriculum(repo, dir, silentLogger), { files: 3, lessons: 4, inserted: 4, updated: 0, unchanged: 0, removed: 0 });
    const one = await repo.getLesson("one");
    assert.equal(one?.level, "B1");
    assert.deepEqual(one?.tags, ["article", "fluency"]);
    assert.equal(one?.body, "Body of one.");
    assert.equal(one?.url, null);
    assert.deepEqual((await repo.getLesson("two"))?.tags, ["tense", "verb_form"]);
    assert.equal((await repo.getLesson("two"))?.url, "/lessons/two");

    // Same files again: nothing written.
    assert.deepEqual(await importCurriculum(repo, dir, silentLogger), { files: 3, lessons: 4, inserted: 0, updated: 0, unchanged: 4, removed: 0 });

    writeFileSync(join(dir, "a.md"), md("one", "url: /lessons/one\n"));
    rmSync(join(dir, "c.yaml"));
    const r = await importCurriculum(repo, dir, silentLogger, { prune: true });
    assert.deepEqual(r, { files: 2, lessons: 2, inserted: 0, updated: 1, unchanged: 1, removed: 2 });
    assert.equal((await repo.getLesson("one"))?.url, "/lessons/one");
    assert.equal(await repo.getLesson("three"), null);

    // A single file imports alone and prunes nothing without --prune.
    assert.equal((await importCurriculum(repo, join(dir, "a.md"), silentLogger)).lessons, 1);
    assert.equal((await repo.listLessons()).length, 2);
  } finally {
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("import: a bad file fails the whole import with its path, and writes nothing", async () => {
  const cases: Record<string, string>[] = [
    { "a.md": md("ok"), "b.md": "---\ntitle: No body\n---\n" },
    { "a.md": md("ok"), "b.md": md("x", "url: javascript:alert(1)\n") },
    { "a.md": md("ok"), "b.md": md("x", "level: Z9\n") },
    { "a.md": md("dup"), "b.md": md("dup") },
    { "a.json": "{ not json" },
  ];
  for (const files of cases) {
    const dir = tree(files);
    const repo = await memRepo();
    try {
      await assert.rejects(importCurriculum(repo, dir, silentLogger), (e: unknown) => e instanceof CurriculumError && /\.(md|json)/.test((e as Error).message));
      assert.deepEqual(await repo.listLessons(), []);
    } finally {
      await repo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const repo = await memRepo();
  await assert.rejects(importCurriculum(repo, "/nonexistent/dir", silentLogger), CurriculumError);
  await repo.close();
});

test("import: the sample curriculum loads (about 30 lessons, known tags) and dev mode imports it by default", async () => {
  const repo = await memRepo();
  try {
    const r = await importCurriculum(repo, DEFAULT_CURRICULUM_DIR, silentLogger);
    assert.ok(r.lessons >= 28 && r.lessons <= 40, `${r.lessons} lessons`);
    const { KNOWN_TAGS } = await import("../../src/curriculum/index.js");
    for (const l of await repo.listLessons()) {
      assert.ok(l.tags.length > 0 && l.tags.every((t) => KNOWN_TAGS.has(t)), `${l.id} tags ${l.tags}`);
      assert.equal(l.url, `/lessons/${l.id}`);
      assert.ok(l.level);
    }
    const dev = await importConfiguredCurriculum(repo, ConfigSchema.parse({ dev: true }), silentLogger);
    assert.equal(dev?.unchanged, r.lessons);
    assert.equal(await importConfiguredCurriculum(repo, ConfigSchema.parse({}), silentLogger), null);
  } finally {
    await repo.close();
  }
});
