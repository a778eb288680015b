// The curriculum as a LangChain retriever for the analysis chain, plus the richer search and a
// per-error-type lookup the chain uses to ground its recommendations.
import { BaseRetriever, type BaseRetrieverInput } from "@langchain/core/retrievers";
import { Document } from "@langchain/core/documents";
import type { Logger } from "../util/log.js";
import type { Repository } from "../store/types.js";
import type { Embedder } from "./embeddings.js";
import { CurriculumIndex, type SearchOptions, type SearchResult } from "./search.js";
import { buildErrorQuery, type ErrorQueryInput } from "./text.js";

/** Metadata of every Document the retriever returns (names relied on by the analysis chain). */
export interface LessonMetadata {
  lesson_id: string;
  title: string;
  url: string | null;
  level: string | null;
  tags: string[];
  score: number;
  [key: string]: unknown;
}

export interface CurriculumRetrieverOptions extends BaseRetrieverInput {
  /** Results per query (default 3). */
  k?: number;
  /** Default learner level and tags for invoke(); search() takes its own. */
  level?: string | null;
  tagFilter?: string[];
  embedder?: Embedder | null;
  logger?: Logger;
  /** Share one index between retrievers (e.g. one per request with a different level). */
  index?: CurriculumIndex;
}

export interface ErrorTypeLessons {
  type: string;
  count: number;
  query: string;
  results: SearchResult[];
}

const EXCERPT_CHARS = 700;

export function toDocument(r: SearchResult): Document<LessonMetadata> {
  const text = r.chunk.length > EXCERPT_CHARS ? `${r.chunk.slice(0, EXCERPT_CHARS)}...` : r.chunk;
  return new Document<LessonMetadata>({
    pageContent: `${r.lesson.title}\n${text}`,
    metadata: { lesson_id: r.lesson.id, title: r.lesson.title, url: r.lesson.url, level: r.lesson.level, tags: [...r.lesson.tags], score: r.score },
  });
}

export class CurriculumRetriever extends BaseRetriever<LessonMetadata> {
  override lc_namespace = ["parlance", "curriculum", "retrievers"];
  static override lc_name() {
    return "CurriculumRetriever";
  }
  readonly index: CurriculumIndex;
  private readonly k: number;
  private readonly level: string | null;
  private readonly tagFilter: string[];

  constructor(repo: Repository, opts: CurriculumRetrieverOptions = {}) {
    super(opts);
    this.index = opts.index ?? new CurriculumIndex(repo, { embedder: opts.embedder ?? null, logger: opts.logger });
    this.k = opts.k ?? 3;
    this.level = opts.level ?? null;
    this.tagFilter = opts.tagFilter ?? [];
  }

  override async _getRelevantDocuments(query: string): Promise<Document<LessonMetadata>[]> {
    const results = await this.index.search(query, { k: this.k, level: this.level, tags: this.tagFilter });
    return results.map(toDocument);
  }

  search(query: string, opts: SearchOptions = {}): Promise<SearchResult[]> {
    return this.index.search(query, opts);
  }

  /** Re-reads lessons from the store (after `curriculum import`). */
  refresh(): Promise<void> {
    return this.index.refresh();
  }

  /**
   * Lessons for the report's most frequent error types: one query per type built from its
   * errors (originals and corrections), tagged with the type, ranked for the learner's level.
   */
  async lessonsForErrors(
    errors: ErrorQueryInput[],
    opts: { level?: string | null; maxTypes?: number; perType?: number; signal?: AbortSignal } = {},
  ): Promise<ErrorTypeLessons[]> {
    const byType = new Map<string, ErrorQueryInput[]>();
    for (const e of errors) {
      if (e.type === "other" || e.type === "recognition_uncertain") continue;
      byType.set(e.type, [...(byType.get(e.type) ?? []), e]);
    }
    const top = [...byType.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0])).slice(0, opts.maxTypes ?? 3);
    const out: ErrorTypeLessons[] = [];
    for (const [type, list] of top) {
      const query = buildErrorQuery(list.slice(0, 3));
      const results = await this.index.search(query, { level: opts.level, tags: [type], k: opts.perType ?? 2, signal: opts.signal });
      out.push({ type, count: list.length, query, results });
    }
    return out;
  }
}

export function createCurriculumRetriever(repo: Repository, opts: CurriculumRetrieverOptions = {}): CurriculumRetriever {
  return new CurriculumRetriever(repo, opts);
}
