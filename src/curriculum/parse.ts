// Reads lesson files: Markdown with front matter (one lesson), JSON or YAML (one lesson, a list,
// or { lessons: [...] }).
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import matter from "gray-matter";
import { parse as parseYaml } from "yaml";
import { CurriculumError, LessonInput } from "./schema.js";

export const LESSON_EXTENSIONS = [".md", ".markdown", ".json", ".yaml", ".yml"];

function validate(raw: unknown, where: string): LessonInput {
  const r = LessonInput.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(lesson)"}: ${i.message}`).join("; ");
    throw new CurriculumError(`${where}: ${issues}`, { cause: r.error });
  }
  return r.data;
}

export function parseMarkdownLesson(text: string, file: string): LessonInput {
  let fm: matter.GrayMatterFile<string>;
  try {
    fm = matter(text);
  } catch (e) {
    throw new CurriculumError(`${file}: bad front matter: ${(e as Error).message}`, { cause: e });
  }
  const data = { ...(fm.data as Record<string, unknown>) };
  let body = fm.content.replace(/\r\n/g, "\n").trim();
  // The first "# Heading" is the title when the front matter has none; it is not repeated in the body.
  const h1 = /^#\s+(.+)\n?/.exec(body);
  if (h1) {
    if (data.title === undefined) data.title = h1[1]!.trim();
    body = body.slice(h1[0].length).trim();
  }
  if (data.id === undefined) data.id = basename(file, extname(file));
  return validate({ ...data, body }, file);
}

export function parseStructuredLessons(text: string, file: string): LessonInput[] {
  let parsed: unknown;
  try {
    parsed = extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new CurriculumError(`${file}: ${(e as Error).message}`, { cause: e });
  }
  const list =
    Array.isArray(parsed) ? parsed
    : parsed && typeof parsed === "object" && Array.isArray((parsed as { lessons?: unknown }).lessons) ? (parsed as { lessons: unknown[] }).lessons
    : [parsed];
  return list.map((raw, i) => validate(raw, list.length > 1 ? `${file} [${i}]` : file));
}

export function parseLessonFile(file: string): LessonInput[] {
  const text = readFileSync(file, "utf8");
  const ext = extname(file).toLowerCase();
  if (ext === ".md" || ext === ".markdown") return [parseMarkdownLesson(text, file)];
  if (ext === ".json" || ext === ".yaml" || ext === ".yml") return parseStructuredLessons(text, file);
  throw new CurriculumError(`${file}: unsupported lesson file type (use ${LESSON_EXTENSIONS.join(", ")})`);
}
