// A LangChain chat model over node-llama-cpp, in this process. Why not @langchain/community's
// ChatLlamaCpp: stale prompt format, no structured output, one shared sequence (see
// docs/analysis.md). This one uses the GGUF file's own chat template, turns
// withStructuredOutput(zod) into a JSON-schema grammar (output always parses), streams, honours
// abort signals and runs concurrent requests on separate context sequences.
import { availableParallelism } from "node:os";
import { BaseChatModel, type BaseChatModelCallOptions, type BaseChatModelParams } from "@langchain/core/language_models/chat_models";
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import { RunnableLambda, type Runnable } from "@langchain/core/runnables";
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import { getLlama, LlamaChat, type ChatHistoryItem, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import type { z } from "zod";
import { AsyncQueue } from "../../util/async-queue.js";
import { grammarJsonSchema, isZodSchema, parseProblem } from "./json-schema.js";
import type { AnswerCut } from "../answer-cut.js";

export interface EmbeddedRuntimeOptions {
  modelPath: string;
  /** Inference threads wanted (0 = all cores); the live cap is set with setMaxThreads(). */
  threads: number;
  contextSize: number;
  /** Context sequences = requests that can run at once. */
  sequences: number;
  /**
   * Keep each sequence's evaluated tokens between requests, so a request that starts with the same
   * tokens (system prompt, few-shot pairs) evaluates only what differs. Default true; false clears
   * the sequence after every request (the "before" of docs/bench-analysis.md's TTFT figures).
   */
  reusePrefix?: boolean;
}

/**
 * What a scored position asks of the evaluation: the logits of `tokens`, of the greedy choice
 * (temperature 0: the highest logit) and the total weight, so that log P(t) = logit(t) - max -
 * log(weight). The sampling options leave the whole vocabulary in (no top-k/top-p/min-p cut), so
 * a scored token is never missing. The max comes from the selected token: `includeTop: 1` sorts the
 * whole vocabulary at every position (2.4x slower, measured), and 3.22.1's `includeMax` adds the
 * max only when it is already in the list.
 */
const scoredNext = (tokens: Token[]) => ({ generateNext: { logits: { filter: { tokens, includeSelected: true } }, totalLogitWeight: true, options: { temperature: 0, topK: 0, topP: 1, minP: 0 } } }) as const;
type ScoredOutput = { next?: { logits?: Map<Token, number>; totalLogitWeight?: number } } | undefined;
/** log P(token) from one scored position's output (-Infinity when it was not asked for). */
function logProbOf(out: ScoredOutput, token: Token): number {
  const next = out?.next;
  const l = next?.logits?.get(token);
  if (!next?.logits || next.totalLogitWeight === undefined || l === undefined) return -Infinity;
  return l - Math.max(...next.logits.values()) - Math.log(next.totalLogitWeight);
}

/**
 * Keeps the tokens `seq` already holds that start `all` (at most `limit` of them) and erases the
 * rest: what a side call must still evaluate starts at the returned index.
 */
async function keepHeld(seq: LlamaContextSequence, all: readonly Token[], limit: number): Promise<number> {
  const held = seq.contextTokens;
  let keep = 0;
  while (keep < held.length && keep < limit && held[keep] === all[keep]) keep++;
  if (keep < held.length) await seq.eraseContextTokenRanges([{ start: keep, end: held.length }]);
  return keep;
}

/** One loaded GGUF model with a pool of context sequences. Load once, share between chat models. */
export class EmbeddedRuntime {
  private free: LlamaContextSequence[] = [];
  private readonly all: LlamaContextSequence[] = [];
  /** Timing of the last finished request (benches and evals read it). */
  lastCall: { ttftMs: number | null; totalMs: number; inputTokens: number; outputTokens: number; cut: boolean } | null = null;
  /** Side calls (likelihood scoring, short generations) since load, apart from lastCall: what the extra passes cost. */
  sideCalls = { calls: 0, ms: 0, inputTokens: 0, outputTokens: 0 };
  private waiters: ((s: LlamaContextSequence) => void)[] = [];
  private grammars = new Map<string, Promise<LlamaGrammar>>();
  private closed = false;
  /**
   * A small second context for short side calls (the span repair, log-prob scoring): they must not
   * run on a report's sequence, where they would erase the evaluated prompt prefix.
   */
  private side: Promise<{ ctx: LlamaContext; seq: LlamaContextSequence }> | undefined;
  private sideLock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly options: EmbeddedRuntimeOptions,
  ) {
    for (let i = 0; i < options.sequences; i++) this.all.push(context.getSequence());
    this.free.push(...this.all);
  }

  /** Tokens evaluated (input) and generated (output) on all sequences since load: what prefix reuse saves. */
  tokenCounts(): { input: number; output: number } {
    let input = 0;
    let output = 0;
    for (const s of this.all) {
      const st = s.tokenMeter.getState();
      input += st.usedInputTokens;
      output += st.usedOutputTokens;
    }
    return { input, output };
  }

  static async load(options: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
    // gpu:false + build:"never": no Vulkan/CUDA probing and never a multi-minute source build.
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never, maxThreads: options.threads || availableParallelism() });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const context = await model.createContext({
      contextSize: options.contextSize,
      sequences: options.sequences,
      threads: { ideal: options.threads || availableParallelism(), min: 1 },
    });
    return new EmbeddedRuntime(llama, model, context, options);
  }

  /** Caps the threads all evaluations may use together (the core policy moves this live). */
  setMaxThreads(n: number): void {
    this.llama.maxThreads = Math.max(1, Math.floor(n));
  }

  get maxThreads(): number {
    return this.llama.maxThreads;
  }

  grammarFor(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = this.llama.createGrammarForJsonSchema(schema as never) as Promise<LlamaGrammar>;
      g.catch(() => this.grammars.delete(key));
      this.grammars.set(key, g);
    }
    return g;
  }

  async acquire(signal?: AbortSignal): Promise<LlamaContextSequence> {
    if (this.closed) throw new Error("embedded LLM runtime is closed");
    const s = this.free.pop();
    if (s) return s;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== take);
        reject(signal?.reason ?? new Error("aborted"));
      };
      const take = (seq: LlamaContextSequence) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(seq);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(take);
    });
  }

  async release(seq: LlamaContextSequence): Promise<void> {
    // No earlier conversation leaks into the next one either way: LlamaChat erases every token
    // after the first one that differs from the new prompt (adaptStateToTokens), so what is kept
    // is exactly the shared prefix.
    if (this.options.reusePrefix === false) await seq.clearHistory().catch(() => undefined);
    const w = this.waiters.shift();
    if (w) w(seq);
    else this.free.push(seq);
  }

  /** Runs `fn` on the side sequence, one side call at a time (created on first use). */
  async withSide<T>(fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("embedded LLM runtime is closed");
    // 1024 tokens and 128-token batches: a side prompt is ~100-300 tokens, and the logits buffer
    // (vocabulary x batch) stays small.
    this.side ??= this.model
      .createContext({ contextSize: 1024, batchSize: 128, sequences: 1, threads: { ideal: this.options.threads || availableParallelism(), min: 1 } })
      .then((ctx) => ({ ctx, seq: ctx.getSequence() }));
    const { seq } = await this.side;
    const run = this.sideLock.then(() => fn(seq));
    this.sideLock = run.catch(() => undefined);
    return run;
  }

  /**
   * Sum of the natural-log probabilities of `text`'s tokens after `context`, on the side sequence:
   * the "is the edited sentence at least as likely" check. Plain text, no chat template: this
   * scores the language, not an answer. The context's tokens are kept between calls, so the
   * variants of one sentence pay only for their own tokens.
   */
  async logProb(context: string, text: string): Promise<{ logProb: number; tokens: number }> {
    return this.withSide(async (seq) => {
      const ctxTokens = this.model.tokenize(context, true);
      const all = [...ctxTokens, ...this.model.tokenize(text, false)];
      // The last context token is evaluated again: its next-token distribution scores text[0].
      const from = ctxTokens.length - 1;
      const keep = await keepHeld(seq, all, from);
      const input = all.slice(keep, all.length - 1).map((t, k) => (keep + k < from ? t : ([t, scoredNext([all[keep + k + 1]!])] as const)));
      const out = await this.sideEvaluate(seq, input);
      let sum = 0;
      let n = 0;
      for (let k = Math.max(0, from - keep); k < input.length; k++) {
        const lp = logProbOf(out[k], all[keep + k + 1]!);
        if (lp === -Infinity) continue;
        sum += lp;
        n++;
      }
      return { logProb: sum, tokens: n };
    });
  }

  private async sideEvaluate(seq: LlamaContextSequence, input: readonly (Token | readonly [Token, ReturnType<typeof scoredNext>])[]): Promise<ScoredOutput[]> {
    const t0 = performance.now();
    const out = (await seq.controlledEvaluate(input as never)) as ScoredOutput[];
    this.sideCalls.calls++;
    this.sideCalls.ms += performance.now() - t0;
    this.sideCalls.inputTokens += input.length;
    return out;
  }

  /**
   * One pass over `context` and `words` (plain text, each word tokenized on its own, on the side
   * sequence): the log-probability of each word from `from` on (its tokens, summed; NaN before
   * `from`), its token count and, where such a word i starts, of the first token of each text in
   * `alternatives[i]`. The words before `from` are context: the tokens the sequence already holds
   * from the last call are not evaluated again, so the likelihood search (lm-edits.ts) pays for an
   * edit's own words only.
   */
  async scoreWords(context: string, words: readonly string[], from = 0, alternatives: readonly (readonly string[] | undefined)[] = []): Promise<{ word: number[]; tokens: number[]; alt: number[][] }> {
    return this.withSide(async (seq) => {
      const all = [...this.model.tokenize(context, true)];
      const starts: number[] = [];
      for (const w of words) {
        starts.push(all.length);
        all.push(...this.model.tokenize(` ${w}`, false));
      }
      const end = all.length;
      const first = starts[from] ?? end;
      // wanted[k]: tokens whose probability is read from the distribution after token k.
      const wanted: Token[][] = all.map((_, k) => (k + 1 < end && k + 1 >= first ? [all[k + 1]!] : []));
      const altTokens = words.map((_, i) => (i < from ? [] : (alternatives[i] ?? []).map((a) => this.model.tokenize(` ${a}`, false)[0])));
      altTokens.forEach((ts, i) => ts.forEach((t) => t !== undefined && wanted[starts[i]! - 1]!.push(t)));
      // The token before the first scored one is evaluated again: its output scores that token.
      const keep = await keepHeld(seq, all, first - 1);
      const input = all.slice(keep, end - 1).map((t, k) => (wanted[keep + k]!.length ? ([t, scoredNext(wanted[keep + k]!)] as const) : t));
      const out = await this.sideEvaluate(seq, input);
      /** log P(token | everything up to position k). */
      const lp = (k: number, token: Token): number => logProbOf(out[k - keep], token);
      const word = words.map((_, i) => {
        if (i < from) return NaN;
        let s = 0;
        for (let k = starts[i]!; k < (starts[i + 1] ?? end); k++) s += lp(k - 1, all[k]!);
        return s;
      });
      const tokens = words.map((_, i) => (starts[i + 1] ?? end) - starts[i]!);
      const alt = altTokens.map((ts, i) => ts.map((t) => (t === undefined ? -Infinity : lp(starts[i]! - 1, t))));
      return { word, tokens, alt };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sideLock;
    if (this.side) await (await this.side.catch(() => undefined))?.ctx.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

export interface ChatNodeLlamaCppCallOptions extends BaseChatModelCallOptions {
  /** JSON schema (grammar subset) the output must follow; set by withStructuredOutput. */
  jsonSchema?: Record<string, unknown>;
  /** Ends the answer early with the text it returns (analysis/answer-cut.ts); set by withStructuredOutput. */
  answerCut?: AnswerCut;
}

export interface ChatNodeLlamaCppParams extends BaseChatModelParams {
  runtime: EmbeddedRuntime;
  temperature?: number;
  maxTokens?: number;
  timeoutMs?: number;
  /** Run on the runtime's side sequence (short calls that must not touch a report's prompt prefix). */
  side?: boolean;
}

function text(m: BaseMessage): string {
  return typeof m.content === "string" ? m.content : m.content.map((p) => ("text" in p && typeof p.text === "string" ? p.text : "")).join("");
}

function toHistory(messages: BaseMessage[]): ChatHistoryItem[] {
  return messages.map((m): ChatHistoryItem => {
    const t = m.getType();
    if (t === "system") return { type: "system", text: text(m) };
    if (t === "ai") return { type: "model", response: [text(m)] };
    return { type: "user", text: text(m) };
  });
}

export class ChatNodeLlamaCpp extends BaseChatModel<ChatNodeLlamaCppCallOptions, AIMessageChunk> {
  readonly runtime: EmbeddedRuntime;
  temperature: number;
  maxTokens: number;
  timeoutMs: number;
  readonly side: boolean;

  constructor(fields: ChatNodeLlamaCppParams) {
    super(fields);
    this.runtime = fields.runtime;
    this.temperature = fields.temperature ?? 0;
    this.maxTokens = fields.maxTokens ?? 700;
    this.timeoutMs = fields.timeoutMs ?? 0;
    this.side = fields.side ?? false;
  }

  /** The same model on the side sequence, for short answers of at most `maxTokens`. */
  sideModel(maxTokens: number): ChatNodeLlamaCpp {
    return new ChatNodeLlamaCpp({ runtime: this.runtime, temperature: this.temperature, maxTokens, timeoutMs: this.timeoutMs, side: true });
  }

  static override lc_name() {
    return "ChatNodeLlamaCpp";
  }

  _llmType(): string {
    return "node-llama-cpp";
  }

  private async run(messages: BaseMessage[], options: this["ParsedCallOptions"], onText?: (t: string) => void): Promise<string> {
    const signals = [options.signal, this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    const grammar = options.jsonSchema ? await this.runtime.grammarFor(options.jsonSchema) : undefined;
    if (this.side) return this.runtime.withSide((seq) => this.generateOn(seq, messages, grammar, signal, options, onText));
    const seq = await this.runtime.acquire(signal);
    try {
      return await this.generateOn(seq, messages, grammar, signal, options, onText);
    } finally {
      await this.runtime.release(seq);
    }
  }

  private async generateOn(
    seq: LlamaContextSequence,
    messages: BaseMessage[],
    grammar: LlamaGrammar | undefined,
    signal: AbortSignal | undefined,
    options: this["ParsedCallOptions"],
    onText?: (t: string) => void,
  ): Promise<string> {
    const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false });
    const t0 = performance.now();
    const meter0 = seq.tokenMeter.getState();
    let first: number | null = null;
    // The cut stops generation through its own signal: the caller's abort still throws.
    const cutter = options.answerCut ? new AbortController() : null;
    let streamed = "";
    let cutText: string | null = null;
    try {
      const res = await chat
        .generateResponse(toHistory(messages), {
          signal: cutter ? AbortSignal.any([cutter.signal, ...(signal ? [signal] : [])]) : signal,
          stopOnAbortSignal: false,
          maxTokens: this.maxTokens,
          temperature: this.temperature,
          ...(grammar ? { grammar } : {}),
          onTextChunk: (t) => {
            first ??= performance.now();
            if (cutText !== null) return;
            onText?.(t);
            if (!cutter) return;
            streamed += t;
            cutText = options.answerCut!(streamed);
            if (cutText !== null) cutter.abort();
          },
          ...(options.stop?.length ? { customStopTriggers: options.stop } : {}),
        })
        .catch((e: unknown) => {
          if (cutText !== null && !signal?.aborted) return { response: cutText };
          throw e;
        });
      const meter = seq.tokenMeter.getState();
      const call = {
        ttftMs: first === null ? null : first - t0,
        totalMs: performance.now() - t0,
        inputTokens: meter.usedInputTokens - meter0.usedInputTokens,
        outputTokens: meter.usedOutputTokens - meter0.usedOutputTokens,
        cut: cutText !== null,
      };
      if (this.side) {
        const s = this.runtime.sideCalls;
        s.calls++;
        s.ms += call.totalMs;
        s.inputTokens += call.inputTokens;
        s.outputTokens += call.outputTokens;
      } else this.runtime.lastCall = call;
      return res.response;
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  }

  /**
   * Evaluates a prompt prefix (system prompt and few-shot pairs) on every idle sequence now, so the
   * first report already pays only for its own transcript. Generates one token after an empty user
   * turn: LlamaChat evaluates the whole history before it, and keeps it.
   */
  async prime(prefix: BaseMessage[], signal?: AbortSignal): Promise<{ sequences: number; tokens: number }> {
    if (this.runtime.options.reusePrefix === false) return { sequences: 0, tokens: 0 };
    const seqs: LlamaContextSequence[] = [];
    try {
      for (let i = 0; i < this.runtime.options.sequences; i++) seqs.push(await this.runtime.acquire(signal));
      let tokens = 0;
      for (const seq of seqs) {
        const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false });
        try {
          await chat.generateResponse([...toHistory(prefix), { type: "user", text: "" }], { maxTokens: 1, temperature: 0, ...(signal ? { signal } : {}) });
          tokens = seq.contextTokens.length;
        } finally {
          chat.dispose({ disposeSequence: false });
        }
      }
      // The side context too (the likelihood passes' first call would otherwise pay ~1 s for it).
      await this.runtime.withSide(async () => undefined);
      return { sequences: seqs.length, tokens };
    } finally {
      for (const seq of seqs) await this.runtime.release(seq);
    }
  }

  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const out = await this.run(messages, options, (t) => void runManager?.handleLLMNewToken(t));
    return { generations: [{ text: out, message: new AIMessage(out) }] };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    // Text chunks arrive from the decoder's callback, which cannot wait; each is at least one
    // token, so maxTokens bounds them (the +16 covers stop-trigger flushes).
    const chunks = new AsyncQueue<string>({ capacity: this.maxTokens + 16 });
    const p = this.run(messages, options, (t) => void chunks.push(t)).then(
      () => chunks.close(),
      (e: unknown) => chunks.fail(e),
    );
    for await (const t of chunks) {
      yield new ChatGenerationChunk({ text: t, message: new AIMessageChunk(t) });
      await runManager?.handleLLMNewToken(t);
    }
    await p;
  }

  /** Structured output through a JSON-schema grammar: the text always parses; zod then validates. */
  override withStructuredOutput(schema: any, config?: any): Runnable<BaseLanguageModelInput, any> {
    const jsonSchema = grammarJsonSchema(schema);
    const answerCut = config?.cut as AnswerCut | undefined;
    const bound = this.withConfig({ jsonSchema, ...(answerCut ? { answerCut } : {}) } as Partial<ChatNodeLlamaCppCallOptions>);
    const parse = (raw: BaseMessage): unknown => {
      const value: unknown = JSON.parse(text(raw));
      return isZodSchema(schema) ? (schema as z.ZodType).parse(value) : value;
    };
    if (!config?.includeRaw) return bound.pipe(RunnableLambda.from((m: BaseMessage) => parse(m)));
    return RunnableLambda.from(async (input: BaseLanguageModelInput, cfg) => {
      const raw = await bound.invoke(input, cfg);
      try {
        return { raw, parsed: parse(raw) };
      } catch (e) {
        return { raw, parsed: null, error: parseProblem(e) }; // StructuredResult's shape (factory.ts)
      }
    });
  }
}
