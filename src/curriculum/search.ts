// Ranks lessons for a query: BM25 over chunks, optionally fused with embedding similarity by
// reciprocal rank fusion (RRF), which needs no score calibration between the two. A lesson's
// score is its best chunk's. Level and tags re-order (matching lessons first), never hide: a
// learner with an uncommon level still gets the best lessons the curriculum has.
import { createHash } from "node:crypto";
import type { Logger } from "../util/log.js";
import type { LessonRecord, Repository } from "../store/types.js";
import { Bm25Index } from "./bm25.js";
import { chunkLesson, type Chunk } from "./chunk.js";
import { cosine, type Embedder } from "./embeddings.js";
import { CEFR_ORDER } from "./schema.js";

export interface SearchOptions {
  /** Learner level (CEFR): lessons within one level of it (or with no level) rank first. */
  level?: string | null;
  /** Lessons with any of these tags (error types, skills) rank first. */
  tags?: string[];
  /** Results wanted: an integer from 1 to MAX_RESULTS (default 3); anything else is a RangeError. */
  k?: number;
  signal?: AbortSignal;
}

export interface SearchResult {
  lesson: LessonRecord;
  /** RRF score in hybrid mode, BM25 score otherwise. */
  score: number;
  bm25: number;
  /** Cosine similarity of the best chunk; null without embeddings. */
  similarity: number | null;
  /** The lesson's best-matching chunk. */
  chunk: string;
  matchesLevel: boolean;
  matchesTags: boolean;
}

export const RRF_K = 60;
/** How deep each ranked list goes into the fusion. */
const FUSION_DEPTH = 50;
/** Most results one search returns: a lesson past the fusion depth has no rank to be returned by. */
export const MAX_RESULTS = FUSION_DEPTH;

const levelIndex = (l: string | null | undefined) => (l ? CEFR_ORDER.indexOf(l.toUpperCase()) : -1);

export class CurriculumIndex {
  private lessons = new Map<string, LessonRecord>();
  private chunks: Chunk[] = [];
  private bm25 = new Bm25Index([]);
  private vectors: number[][] | null = null;
  private readonly vectorCache = new Map<string, number[]>();
  private built: Promise<void> | null = null;

  constructor(
    private readonly repo: Repository,
    private readonly opts: { embedder?: Embedder | null; logger?: Logger } = {},
  ) {}

  /** Re-reads the lessons from the store (call after an import). */
  refresh(): Promise<void> {
    const p = this.build();
    this.built = p;
    p.catch(() => {
      if (this.built === p) this.built = null;
    });
    return p;
  }

  private ready(): Promise<void> {
    return this.built ?? this.refresh();
  }

  get lessonCount(): number {
    return this.lessons.size;
  }

  private async build(): Promise<void> {
    const lessons = await this.repo.listLessons();
    const chunks = lessons.flatMap((l) => chunkLesson(l));
    this.lessons = new Map(lessons.map((l) => [l.id, l]));
    this.chunks = chunks;
    this.bm25 = new Bm25Index(chunks.map((c) => c.indexText));
    this.vectors = null;
    const emb = this.opts.embedder;
    if (emb && chunks.length) {
      try {
        const keys = chunks.map((c) => `${emb.id}\n${createHash("sha256").update(c.indexText).digest("hex")}`);
        const missing = keys.map((k, i) => (this.vectorCache.has(k) ? -1 : i)).filter((i) => i >= 0);
        const got = await emb.embed(missing.map((i) => chunks[i]!.indexText));
        missing.forEach((ci, j) => this.vectorCache.set(keys[ci]!, got[j]!));
        this.vectors = keys.map((k) => this.vectorCache.get(k)!);
      } catch (e) {
        // Lexical ranking still works; the embeddings are retried at the next refresh.
        this.opts.logger?.warn({ err: e }, "curriculum: embeddings unavailable, ranking with BM25 only");
      }
    }
    this.opts.logger?.debug({ lessons: lessons.length, chunks: chunks.length, vectors: this.vectors !== null }, "curriculum index built");
  }

  async search(query: string, opts: SearchOptions = {}): Promise<SearchResult[]> {
    await this.ready();
    const k = opts.k ?? 3;
    if (!Number.isInteger(k) || k < 1 || k > MAX_RESULTS) throw new RangeError(`k must be an integer from 1 to ${MAX_RESULTS}, got ${k}`);
    const bm = this.bm25.scores(query);
    let sims: number[] | null = null;
    if (this.vectors && this.opts.embedder) {
      try {
        const [qv] = await this.opts.embedder.embed([query], opts.signal);
        sims = this.vectors.map((v) => cosine(qv!, v));
      } catch (e) {
        this.opts.logger?.warn({ err: e }, "curriculum: query embedding failed, ranking with BM25 only");
      }
    }
    const rankOf = (scores: number[]) => {
      const order = scores
        .map((s, i) => [s, i] as const)
        .filter(([s]) => s > 0)
        .sort((a, b) => b[0] - a[0])
        .slice(0, FUSION_DEPTH);
      const ranks = new Map<number, number>();
      order.forEach(([, i], r) => ranks.set(i, r + 1));
      return ranks;
    };
    const bmRanks = rankOf(bm);
    const simRanks = sims ? rankOf(sims) : null;

    const best = new Map<string, { score: number; chunk: number }>();
    this.chunks.forEach((c, i) => {
      let score: number;
      if (simRanks) {
        const a = bmRanks.get(i);
        const b = simRanks.get(i);
        score = (a ? 1 / (RRF_K + a) : 0) + (b ? 1 / (RRF_K + b) : 0);
      } else score = bm[i]!;
      if (score <= 0) return;
      const cur = best.get(c.lessonId);
      if (!cur || score > cur.score) best.set(c.lessonId, { score, chunk: i });
    });

    const want = levelIndex(opts.level);
    const tags = new Set((opts.tags ?? []).map((t) => t.toLowerCase()));
    const results: SearchResult[] = [...best.entries()].map(([id, b]) => {
      const lesson = this.lessons.get(id)!;
      const li = levelIndex(lesson.level);
      return {
        lesson,
        score: b.score,
        bm25: bm[b.chunk]!,
        similarity: sims ? sims[b.chunk]! : null,
        chunk: this.chunks[b.chunk]!.text,
        matchesLevel: want < 0 || li < 0 || Math.abs(li - want) <= 1,
        matchesTags: tags.size === 0 || lesson.tags.some((t) => tags.has(t)),
      };
    });
    // Tags outrank level: the right topic slightly off-level beats the right level, wrong topic.
    const tier = (r: SearchResult) => (r.matchesTags ? 0 : 2) + (r.matchesLevel ? 0 : 1);
    results.sort((a, b) => tier(a) - tier(b) || b.score - a.score || a.lesson.id.localeCompare(b.lesson.id));
    return results.slice(0, k);
  }

  /** True when the store holds a lesson with this id (as of the last refresh). */
  has(lessonId: string): boolean {
    return this.lessons.has(lessonId);
  }
}
