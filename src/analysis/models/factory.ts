// The LLM provider registry: llm.provider names an entry {capabilities, create(config, log)};
// built in are embedded (node-llama-cpp in this process), ollama, any OpenAI-compatible server
// (vLLM, llama-server...) and fake (no LLM: deterministic report parts only). Each backend hands
// the chain a runnable that returns { raw, parsed, error? } for a zod schema, so the chain's
// repair/fallback logic is shared. Code that must treat providers differently reads a capability,
// never a provider name.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import type { BaseMessage } from "@langchain/core/messages";
import type { Runnable } from "@langchain/core/runnables";
import { ChatOpenAI } from "@langchain/openai";
import { ChatOllama } from "@langchain/ollama";
import { z } from "zod";
import { modelsDir, type Config } from "../../config/index.js";
import { defaultLlmEntry } from "../../models/catalogue.js";
import type { Logger } from "../../util/log.js";
import { findModelFile } from "../../util/model-path.js";
import { LlmUnavailableError } from "../types.js";
import type { AnswerCut } from "../answer-cut.js";
import { ChatNodeLlamaCpp, EmbeddedRuntime } from "./embedded.js";

/** The catalogue's default LLM file (src/models/catalogue.ts DEFAULT_LLM_MODEL): what `models pull` fetches is what loads. */
export const DEFAULT_EMBEDDED_MODEL = defaultLlmEntry().file;
export const DEFAULT_REMOTE_MODEL = { ollama: "llama3:8b-instruct-q4_K_M", openai: "meta-llama/Meta-Llama-3-8B-Instruct" } as const;

/** `error`: the provider parsed inside the call and refused the answer; `raw` keeps the text for the repair turn. */
export type StructuredResult = { raw: BaseMessage; parsed: unknown | null; error?: string };

export interface StructuredOptions {
  /** Stop the answer early (analysis/answer-cut.ts); backends that do not stream the answer read it whole. */
  cut?: AnswerCut;
}

export interface LlmCapabilities {
  /**
   * Inference runs on this machine's cores, the ones live transcription needs: the core policy
   * (analysis waits for a free core, thread budget) applies. Remote servers have their own.
   */
  sharesCores: boolean;
  /** Writes the LLM parts of a report. False: reports carry the deterministic parts only. */
  writesFeedback: boolean;
  /** Can score a text's log-probability (the span repair's likelihood passes); remote APIs cannot. */
  logProbs: boolean;
}

export interface LlmBackend {
  /** The registry name it was created under (logs, versions). */
  readonly provider: string;
  readonly capabilities: LlmCapabilities;
  /** e.g. "embedded:qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" */
  readonly name: string;
  chatModel(): Promise<BaseChatModel>;
  structured(schema: z.ZodType, options?: StructuredOptions): Promise<Runnable<BaseLanguageModelInput, StructuredResult>>;
  /** Inference threads this backend may use now (embedded only; remote servers ignore it). */
  setThreadBudget(threads: number): void;
  /** Embedded only: evaluate the prompt prefix every report shares once, now (remote: no-op). */
  prime(prefix: BaseMessage[], signal?: AbortSignal): Promise<{ sequences: number; tokens: number }>;
  close(): Promise<void>;
}

/** The GGUF file llm.model names (util/model-path.ts); when missing, where it is expected in the models dir. */
export function resolveModelPath(config: Config): string {
  const { path, candidates } = findModelFile(config.llm.model ?? DEFAULT_EMBEDDED_MODEL, modelsDir(config));
  return path ?? candidates.at(-1)!;
}

const REMOTE: LlmCapabilities = { sharesCores: false, writesFeedback: true, logProbs: false };
const EMBEDDED: LlmCapabilities = { sharesCores: true, writesFeedback: true, logProbs: true };

function remoteBackend(provider: "ollama" | "openai", config: Config): LlmBackend {
  const l = config.llm;
  const model = l.model ?? DEFAULT_REMOTE_MODEL[provider];
  const chat: BaseChatModel =
    provider === "openai"
      ? new ChatOpenAI({
          model,
          apiKey: l.apiKey ?? "not-needed", // local servers ignore it; the SDK insists on one
          configuration: { baseURL: l.baseUrl ?? "http://127.0.0.1:8000/v1" },
          temperature: l.temperature,
          maxTokens: l.maxOutputTokens,
          timeout: l.timeoutMs || undefined,
          maxRetries: 0, // the job runner retries with backoff; the SDK must not hide an outage
        })
      : new ChatOllama({
          model,
          baseUrl: l.baseUrl ?? "http://127.0.0.1:11434",
          temperature: l.temperature,
          numPredict: l.maxOutputTokens,
          numCtx: l.contextSize,
        });
  return {
    provider,
    capabilities: REMOTE,
    name: `${provider}:${model}`,
    chatModel: async () => chat,
    structured: async (schema) =>
      // A plain JSON schema, not the zod object: with zod, the OpenAI SDK parses inside the model
      // call and a malformed answer throws there, losing the raw text the repair turn needs.
      chat.withStructuredOutput(z.toJSONSchema(schema, { io: "output" }) as Record<string, unknown>, { method: "jsonSchema", name: "speaking_feedback", includeRaw: true }) as unknown as Runnable<
        BaseLanguageModelInput,
        StructuredResult
      >,
    setThreadBudget: () => undefined,
    prime: async () => ({ sequences: 0, tokens: 0 }),
    close: async () => undefined,
  };
}

export interface BackendOptions {
  /** Embedded: keep the evaluated prompt prefix between reports (default true; false for the "before" figures). */
  reusePrefix?: boolean;
}

function embeddedBackend(config: Config, logger: Logger, options: BackendOptions): LlmBackend {
  const l = config.llm;
  const modelPath = resolveModelPath(config);
  const wanted = l.threads || availableParallelism();
  let budget = wanted;
  let loading: Promise<EmbeddedRuntime> | undefined;
  let model: ChatNodeLlamaCpp | undefined;
  if (!existsSync(modelPath)) logger.warn({ modelPath }, "embedded LLM model file not found: reports stay pending until it is installed (set PARLANCE_LLM_MODEL)");

  const load = async (): Promise<ChatNodeLlamaCpp> => {
    if (model) return model;
    if (!existsSync(modelPath)) throw new LlmUnavailableError(`embedded LLM model file not found: ${modelPath} (set PARLANCE_LLM_MODEL to a GGUF file or a name in the models dir)`);
    loading ??= EmbeddedRuntime.load({ modelPath, threads: wanted, contextSize: l.contextSize, sequences: Math.max(1, config.analysis.concurrency), reusePrefix: options.reusePrefix ?? true });
    try {
      const rt = await loading;
      rt.setMaxThreads(Math.min(wanted, budget));
      model = new ChatNodeLlamaCpp({ runtime: rt, temperature: l.temperature, maxTokens: l.maxOutputTokens, timeoutMs: l.timeoutMs });
      logger.info({ modelPath, threads: rt.maxThreads }, "embedded LLM loaded");
      return model;
    } catch (e) {
      loading = undefined;
      throw new LlmUnavailableError(`embedded LLM could not be loaded from ${modelPath}: ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    provider: "embedded",
    capabilities: EMBEDDED,
    name: `embedded:${modelPath.split("/").pop()}`,
    chatModel: load,
    structured: async (schema, opts) => (await load()).withStructuredOutput(schema, { includeRaw: true, cut: opts?.cut }) as Runnable<BaseLanguageModelInput, StructuredResult>,
    setThreadBudget: (threads) => {
      budget = Math.max(1, Math.floor(threads));
      model?.runtime.setMaxThreads(Math.min(wanted, budget));
    },
    prime: async (prefix, signal) => (await load()).prime(prefix, signal),
    close: async () => {
      const rt = model?.runtime ?? (loading ? await loading.catch(() => undefined) : undefined);
      model = undefined;
      loading = undefined;
      await rt?.close();
    },
  };
}

export interface LlmProvider {
  readonly capabilities: LlmCapabilities;
  /** Null for a provider that writes no feedback (capabilities.writesFeedback false). */
  create(config: Config, logger: Logger, options: BackendOptions): LlmBackend | null;
  /** The model file it loads on this machine (`models list`, first-run pull); absent = none. */
  localModel?(config: Config): string;
}

export class UnknownLlmProviderError extends Error {
  constructor(name: string, known: string[]) {
    super(`llm.provider "${name}" is not a registered provider (known: ${known.join(", ")})`);
    this.name = "UnknownLlmProviderError";
  }
}

const providers = new Map<string, LlmProvider>();

/** Adds a provider under `name` (llm.provider); a second registration of a name is a bug. */
export function registerLlmProvider(name: string, provider: LlmProvider): void {
  if (providers.has(name)) throw new Error(`llm provider "${name}" is registered twice`);
  providers.set(name, provider);
}

export function llmProvider(name: string): LlmProvider {
  const p = providers.get(name);
  if (!p) throw new UnknownLlmProviderError(name, [...providers.keys()]);
  return p;
}

registerLlmProvider("embedded", { capabilities: EMBEDDED, create: (config, logger, options) => embeddedBackend(config, logger, options), localModel: resolveModelPath });
registerLlmProvider("ollama", { capabilities: REMOTE, create: (config) => remoteBackend("ollama", config) });
registerLlmProvider("openai", { capabilities: REMOTE, create: (config) => remoteBackend("openai", config) });
registerLlmProvider("fake", { capabilities: { sharesCores: false, writesFeedback: false, logProbs: false }, create: () => null });

export function createLlmBackend(config: Config, logger: Logger, options: BackendOptions = {}): LlmBackend {
  const backend = llmProvider(config.llm.provider).create(config, logger, options);
  if (!backend) throw new Error(`llm provider "${config.llm.provider}" writes no feedback: it is not an analysis backend`);
  return backend;
}
