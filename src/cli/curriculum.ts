// `parlance curriculum import|list|search`: manage the operator's lessons in the store.
import { InvalidArgumentError, type Command } from "commander";
import type { Config } from "../config/index.js";
import { createLogger } from "../util/log.js";
import { createRepository } from "../store/index.js";
import { importCurriculum, createCurriculumRetriever, createEmbedder, MAX_RESULTS } from "../curriculum/index.js";

async function withRepo<T>(loadConfig: () => Config, fn: (repo: Awaited<ReturnType<typeof createRepository>>, config: Config) => Promise<T>) {
  const config = loadConfig();
  const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel);
  const repo = await createRepository(config, logger);
  try {
    return await fn(repo, config);
  } finally {
    await repo.close();
  }
}

function fail(e: unknown): never {
  console.error(`parlance curriculum: ${(e as Error).message}`);
  process.exit(1);
}

export function registerCurriculumCommands(program: Command, loadConfig: () => Config): void {
  const cur = program.command("curriculum").description("import and inspect curriculum lessons (RAG for report recommendations)");

  cur
    .command("import <path>")
    .description("import lessons from a directory or file (Markdown with front matter, JSON, YAML); re-import is idempotent")
    .option("--prune", "delete stored lessons that are not in <path>")
    .action(async (path: string, o: { prune?: boolean }) => {
      try {
        const r = await withRepo(loadConfig, (repo) => importCurriculum(repo, path, createLogger("warn"), { prune: Boolean(o.prune) }));
        console.log(
          `${r.lessons} lessons from ${r.files} files: ${r.inserted} inserted, ${r.updated} updated, ${r.unchanged} unchanged${o.prune ? `, ${r.removed} removed` : ""}`,
        );
      } catch (e) {
        fail(e);
      }
    });

  cur
    .command("list")
    .description("list stored lessons")
    .action(async () => {
      try {
        await withRepo(loadConfig, async (repo) => {
          for (const l of await repo.listLessons()) console.log(`${l.id}\t${l.level ?? "-"}\t${l.tags.join(",")}\t${l.title}`);
        });
      } catch (e) {
        fail(e);
      }
    });

  cur
    .command("search <query...>")
    .description("rank lessons for a query, as the analysis would")
    .option("--level <cefr>", "learner level, e.g. B1")
    .option("--tags <tags>", "comma-separated tags ranked first, e.g. tense,article")
    .option("-k <n>", `results, 1 to ${MAX_RESULTS}`, resultCount, 3)
    .action(async (words: string[], o: { level?: string; tags?: string; k: number }) => {
      try {
        await withRepo(loadConfig, async (repo, config) => {
          const embedder = createEmbedder(config, createLogger("warn"));
          try {
            const results = await createCurriculumRetriever(repo, { embedder }).search(words.join(" "), {
              level: o.level,
              tags: o.tags ? o.tags.split(",").map((t) => t.trim()) : [],
              k: o.k,
            });
            for (const r of results) console.log(`${r.score.toFixed(4)}\t${r.lesson.id}\t${r.lesson.level ?? "-"}\t${r.lesson.title}`);
          } finally {
            await embedder?.close();
          }
        });
      } catch (e) {
        fail(e);
      }
    });
}

/** -k is refused outside 1..MAX_RESULTS (a usage error), not bent into range. */
function resultCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_RESULTS) throw new InvalidArgumentError(`-k must be an integer from 1 to ${MAX_RESULTS}`);
  return n;
}
