// The LangChain chain: versioned prompt files + few-shot examples -> chat model with structured
// output -> zod validation -> one repair turn -> give up (the caller falls back to the
// deterministic report). Connection failures surface as LlmUnavailableError for the job runner.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ChatPromptTemplate, PromptTemplate } from "@langchain/core/prompts";
import { AIMessage, HumanMessage, SystemMessage, type BaseMessage } from "@langchain/core/messages";
import type { z } from "zod";
import { LlmFeedbackV1, LlmFeedbackV2, LlmFeedbackV3, LlmFeedbackV4, LlmFeedbackV5, normalizeFeedback, type LlmFeedback } from "./llm-schema.js";
import type { LlmBackend, StructuredResult } from "./models/factory.js";
import { parseProblem } from "./models/json-schema.js";
import { LlmUnavailableError } from "./types.js";
import { cutAtFirstNoop, type AnswerCut } from "./answer-cut.js";
import { PROMPT_VERSION, PROMPT_VERSIONS, type PromptVersion } from "./prompt-versions.js";

export { PROMPT_VERSION, PROMPT_VERSIONS, type PromptVersion };
const PROMPT_DIR = join(dirname(fileURLToPath(import.meta.url)), "prompts");
const file = (version: PromptVersion, suffix: string) => readFileSync(join(PROMPT_DIR, `${version}.${suffix}`), "utf8");

/** The zod schema of the LLM's answer for each prompt version. */
export const FEEDBACK_SCHEMAS: Record<PromptVersion, z.ZodType> = { "feedback-v1": LlmFeedbackV1, "feedback-v2": LlmFeedbackV2, "feedback-v3": LlmFeedbackV3, "feedback-v4": LlmFeedbackV4, "feedback-v5": LlmFeedbackV5 };

/** Versions whose answers may stop early (answer-cut.ts); the others are always read to the end. */
export const ANSWER_CUTS: Partial<Record<PromptVersion, AnswerCut>> = { "feedback-v4": cutAtFirstNoop };

export interface PromptVars {
  task: string;
  learner_level: string;
  /** v1 only: "0:word 1:word", uncertain words as ??word?? */
  numbered: string;
  /** The transcript; in v2 uncertain words are marked ??word?? here. */
  text: string;
  fluency: string;
  /** v1 only: the retrieved lessons the model may cite (v2 recommendations are built in code). */
  lessons: string;
}

interface Example {
  input: PromptVars;
  output: unknown;
}

interface Templates {
  prompt: ChatPromptTemplate;
  repair: PromptTemplate;
  /** System prompt and few-shot pairs: the same for every report, evaluated once and reused. */
  prefix: BaseMessage[];
}

const loaded = new Map<PromptVersion, Promise<Templates>>();
function templates(version: PromptVersion): Promise<Templates> {
  let t = loaded.get(version);
  if (!t) {
    t = (async () => {
      const user = file(version, "user.md");
      const userTpl = PromptTemplate.fromTemplate(user, { templateFormat: "mustache" });
      const examples = JSON.parse(file(version, "examples.json")) as Example[];
      // Few-shot pairs are rendered once as literal messages: their JSON braces are not template syntax.
      const prefix: BaseMessage[] = [new SystemMessage(file(version, "system.md"))];
      for (const ex of examples) prefix.push(new HumanMessage(await userTpl.format({ ...ex.input })), new AIMessage(JSON.stringify(ex.output)));
      return {
        prompt: ChatPromptTemplate.fromMessages([...prefix, ["human", user]], { templateFormat: "mustache" }),
        repair: PromptTemplate.fromTemplate(file(version, "repair.md"), { templateFormat: "mustache" }),
        prefix,
      };
    })();
    loaded.set(version, t);
  }
  return t;
}

export async function renderPrompt(vars: PromptVars, version: PromptVersion = PROMPT_VERSION): Promise<BaseMessage[]> {
  return (await templates(version)).prompt.formatMessages({ ...vars });
}

/** The messages every report of this version starts with (what the embedded backend primes). */
export async function promptPrefix(version: PromptVersion = PROMPT_VERSION): Promise<BaseMessage[]> {
  return (await templates(version)).prefix;
}

const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EAI_AGAIN", "EPIPE", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT"]);

/** True when the error means "could not reach / no answer from the LLM" rather than a bad answer. */
export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof LlmUnavailableError) return true;
    const x = e as { code?: unknown; name?: unknown; status?: unknown; message?: unknown };
    if (typeof x.code === "string" && UNAVAILABLE_CODES.has(x.code)) return true;
    if (x.name === "APIConnectionError" || x.name === "APIConnectionTimeoutError" || x.name === "TimeoutError") return true;
    if (typeof x.status === "number" && [408, 429, 502, 503, 504].includes(x.status)) return true;
    if (typeof x.message === "string" && /fetch failed|connection error|ECONNREFUSED|timed out|socket hang up/i.test(x.message)) return true;
  }
  return false;
}

export interface ChainResult {
  feedback: LlmFeedback | null;
  status: "ok" | "repaired" | "failed";
  problems: string[];
}

function contentOf(m: BaseMessage): string {
  return typeof m.content === "string" ? m.content : JSON.stringify(m.content);
}

function validate(version: PromptVersion, res: StructuredResult): { ok: true; value: LlmFeedback } | { ok: false; problems: string[] } {
  const { parsed, raw } = res;
  if (res.error) return { ok: false, problems: [res.error] };
  let candidate = parsed;
  if (candidate === null || candidate === undefined) {
    try {
      candidate = JSON.parse(contentOf(raw));
    } catch (e) {
      return { ok: false, problems: [`not valid JSON: ${(e as Error).message}`] };
    }
  }
  const r = FEEDBACK_SCHEMAS[version].safeParse(candidate);
  if (r.success) return { ok: true, value: normalizeFeedback(r.data, version) };
  return { ok: false, problems: r.error.issues.slice(0, 8).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`) };
}

/**
 * Runs the chain; throws LlmUnavailableError when the model cannot be reached. `cut`: stop the
 * answer early where its version allows (ANSWER_CUTS) and the backend streams (default true).
 */
export async function runFeedbackChain(backend: LlmBackend, vars: PromptVars, signal?: AbortSignal, version: PromptVersion = PROMPT_VERSION, cut = true): Promise<ChainResult> {
  const schema = FEEDBACK_SCHEMAS[version];
  const answerCut = cut ? ANSWER_CUTS[version] : undefined;
  const call = async (messages: BaseMessage[]): Promise<StructuredResult> => {
    try {
      const structured = await backend.structured(schema, answerCut ? { cut: answerCut } : {});
      return await structured.invoke(messages, { signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isUnavailable(e)) throw e instanceof LlmUnavailableError ? e : new LlmUnavailableError(`LLM unreachable (${backend.name}): ${(e as Error).message}`, { cause: e });
      // Some providers parse inside the call: a malformed answer is a bad answer, not an outage.
      if (e instanceof SyntaxError || (e as Error)?.name === "ZodError" || (e as Error)?.name === "OutputParserException") {
        return { raw: new AIMessage(""), parsed: null, error: parseProblem(e) };
      }
      throw e;
    }
  };
  const messages = await renderPrompt(vars, version);
  const first = await call(messages);
  const v1 = validate(version, first);
  if (v1.ok) return { feedback: v1.value, status: "ok", problems: [] };
  const repairMsg = new HumanMessage(await (await templates(version)).repair.format({ problems: v1.problems.map((p) => `- ${p}`).join("\n") }));
  const second = await call([...messages, new AIMessage(contentOf(first.raw).slice(0, 4000)), repairMsg]);
  const v2 = validate(version, second);
  if (v2.ok) return { feedback: v2.value, status: "repaired", problems: v1.problems };
  return { feedback: null, status: "failed", problems: [...v1.problems, ...v2.problems] };
}

