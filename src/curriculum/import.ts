// `parlance curriculum import`: validates every file first, then upserts lessons by content hash,
// so a bad file changes nothing and a re-import of the same files writes nothing.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import type { Logger } from "../util/log.js";
import type { Repository } from "../store/types.js";
import { CurriculumError, KNOWN_TAGS, type LessonInput } from "./schema.js";
import { LESSON_EXTENSIONS, parseLessonFile } from "./parse.js";

export interface ImportResult {
  files: number;
  lessons: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Lessons deleted because they were not in the import (only with `prune`). */
  removed: number;
}

export function lessonHash(l: LessonInput): string {
  return createHash("sha256").update(JSON.stringify([l.id, l.title, l.level, l.tags, l.body, l.url])).digest("hex");
}

/** Lesson files under a directory, sorted; README.* and names starting with "." or "_" are skipped. */
export function listLessonFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new CurriculumError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (st.isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".") || name.startsWith("_") || /^readme\./i.test(name)) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (LESSON_EXTENSIONS.includes(extname(name).toLowerCase())) out.push(p);
    }
  };
  walk(path);
  return out;
}

export async function importCurriculum(
  repo: Repository,
  path: string,
  logger: Logger,
  opts: { prune?: boolean } = {},
): Promise<ImportResult> {
  const files = listLessonFiles(path);
  if (files.length === 0) throw new CurriculumError(`no lesson files (${LESSON_EXTENSIONS.join(", ")}) under ${path}`);
  const lessons: LessonInput[] = [];
  const origin = new Map<string, string>();
  for (const f of files) {
    for (const l of parseLessonFile(f)) {
      const prev = origin.get(l.id);
      if (prev) throw new CurriculumError(`duplicate lesson id "${l.id}" in ${relative(path, f) || f} and ${relative(path, prev) || prev}`);
      origin.set(l.id, f);
      const unknown = l.tags.filter((t) => !KNOWN_TAGS.has(t));
      if (unknown.length) logger.warn({ lesson: l.id, tags: unknown }, "curriculum: tags that match no error type or skill (kept, but never used for filtering by error type)");
      lessons.push(l);
    }
  }
  const result: ImportResult = { files: files.length, lessons: lessons.length, inserted: 0, updated: 0, unchanged: 0, removed: 0 };
  for (const l of lessons) {
    const r = await repo.upsertLesson({ ...l, contentHash: lessonHash(l) });
    result[r]++;
  }
  if (opts.prune) result.removed = await repo.deleteLessonsNotIn(lessons.map((l) => l.id));
  logger.info({ path, ...result }, "curriculum imported");
  return result;
}
