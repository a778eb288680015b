// Optional dense embeddings for hybrid ranking: a local GGUF embedding model through
// node-llama-cpp, or any OpenAI-compatible /v1/embeddings endpoint (llama-server, vLLM, Ollama,
// OpenAI). BM25 works without either.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigSchema, modelsDir, type Config } from "../config/index.js";
import { fetchCappedText, ResponseTooLarge } from "../util/capped-fetch.js";
import type { Logger } from "../util/log.js";
import { CurriculumError } from "./schema.js";

export interface Embedder {
  /** Identifies model and provider; cached vectors are keyed by it. */
  readonly id: string;
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
  close(): Promise<void>;
}

export class EmbeddingError extends CurriculumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmbeddingError";
  }
}

const EmbeddingsResponse = z.object({
  data: z.array(z.object({ embedding: z.array(z.number()), index: z.number().int().nonnegative() })),
});

/** `base` may be the server root, its /v1, or the full /v1/embeddings URL. */
export function embeddingsEndpoint(base: string): string {
  const u = base.replace(/\/+$/, "");
  if (u.endsWith("/embeddings")) return u;
  if (/\/v\d+$/.test(u)) return `${u}/embeddings`;
  return `${u}/v1/embeddings`;
}

export interface OpenAIEmbedderOptions {
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Per request (ms); default curriculum.embeddingTimeoutMs's. */
  timeoutMs?: number;
  /** Texts per request; default curriculum.embeddingBatchSize's. */
  batchSize?: number;
  /** Largest response read (bytes); default curriculum.embeddingMaxBytes's. */
  maxBytes?: number;
}

const DEFAULTS = ConfigSchema.shape.curriculum.parse(undefined);

export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  private readonly url: string;

  constructor(private readonly opts: OpenAIEmbedderOptions) {
    this.url = embeddingsEndpoint(opts.baseUrl);
    this.id = `openai:${opts.model}@${this.url}`;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const out: number[][] = [];
    const batch = this.opts.batchSize ?? DEFAULTS.embeddingBatchSize;
    for (let i = 0; i < texts.length; i += batch) out.push(...(await this.embedBatch(texts.slice(i, i + batch), signal)));
    return out;
  }

  private async embedBatch(input: string[], signal?: AbortSignal): Promise<number[][]> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULTS.embeddingTimeoutMs);
    let res: { status: number; text: string };
    try {
      // Read against a byte cap as it streams: the endpoint's answer is not trusted to be sane.
      res = await fetchCappedText(
        this.url,
        {
          method: "POST",
          headers: { "content-type": "application/json", ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
          body: JSON.stringify({ model: this.opts.model, input }),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        },
        this.opts.maxBytes ?? DEFAULTS.embeddingMaxBytes,
      );
    } catch (e) {
      const why = e instanceof ResponseTooLarge ? "answer too large (curriculum.embeddingMaxBytes)" : "unreachable";
      throw new EmbeddingError(`embeddings endpoint ${this.url} ${why}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status < 200 || res.status > 299) throw new EmbeddingError(`embeddings endpoint ${this.url} answered ${res.status}: ${res.text.slice(0, 200)}`);
    const parsed = EmbeddingsResponse.safeParse(parseJson(res.text));
    if (!parsed.success || parsed.data.data.length !== input.length) {
      throw new EmbeddingError(`embeddings endpoint ${this.url} returned an unexpected body`);
    }
    return [...parsed.data.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
  }

  async close(): Promise<void> {}
}

export class LlamaEmbedder implements Embedder {
  readonly id: string;
  private ctx: Promise<{ embed(t: string): Promise<number[]>; dispose(): Promise<void> }> | null = null;

  constructor(private readonly opts: { modelPath: string; threads?: number }) {
    this.id = `gguf:${opts.modelPath}`;
  }

  private context() {
    // Loaded on first use: `serve` starts without paying for a model BM25 may never need.
    this.ctx ??= (async () => {
      const { getLlama } = await import("node-llama-cpp");
      // gpu:false and build:"never": no Vulkan probe, and never a multi-minute source build.
      const llama = await getLlama({ gpu: false, build: "never" });
      const model = await llama.loadModel({ modelPath: this.opts.modelPath });
      const ctx = await model.createEmbeddingContext(this.opts.threads ? { threads: this.opts.threads } : {});
      return {
        embed: async (t: string) => [...(await ctx.getEmbeddingFor(t)).vector],
        dispose: async () => {
          await ctx.dispose();
          await model.dispose();
          await llama.dispose();
        },
      };
    })().catch((e: unknown) => {
      this.ctx = null;
      throw new EmbeddingError(`cannot load embedding model ${this.opts.modelPath}: ${(e as Error).message}`, { cause: e });
    });
    return this.ctx;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const c = await this.context();
    const out: number[][] = [];
    for (const t of texts) {
      signal?.throwIfAborted();
      out.push(await c.embed(t));
    }
    return out;
  }

  async close(): Promise<void> {
    if (!this.ctx) return;
    const c = await this.ctx.catch(() => null);
    this.ctx = null;
    await c?.dispose();
  }
}

/** The embedder the configuration asks for, or null for BM25 only. */
export function createEmbedder(config: Config, logger: Logger): Embedder | null {
  const c = config.curriculum;
  if (c.embeddings === "none") return null;
  if (c.embeddings === "openai") {
    if (!c.embeddingUrl || !c.embeddingModel) {
      throw new CurriculumError("curriculum.embeddings=openai needs curriculum.embeddingUrl and curriculum.embeddingModel");
    }
    logger.info({ url: c.embeddingUrl, model: c.embeddingModel }, "curriculum: OpenAI-compatible embeddings");
    return new OpenAIEmbedder({
      baseUrl: c.embeddingUrl,
      model: c.embeddingModel,
      apiKey: config.llm.apiKey,
      timeoutMs: c.embeddingTimeoutMs,
      batchSize: c.embeddingBatchSize,
      maxBytes: c.embeddingMaxBytes,
    });
  }
  if (!c.embeddingModel) throw new CurriculumError("curriculum.embeddings=embedded needs curriculum.embeddingModel (a GGUF file)");
  const candidates = [resolve(modelsDir(config), c.embeddingModel), resolve(c.embeddingModel)];
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new CurriculumError(`embedding model ${c.embeddingModel} not found (looked in ${candidates.join(", ")})`);
  logger.info({ model: path }, "curriculum: local GGUF embeddings");
  return new LlamaEmbedder({ modelPath: path });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
