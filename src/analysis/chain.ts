// The LangChain chain: versioned prompt files + few-shot examples -> chat model with structured
// output -> zod validation -> one repair turn -> give up (the caller falls back to the
// deterministic report). Connection failures surface as LlmUnavailableError for the job runner.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ChatPromptTemplate, PromptTemplate } from "@langchain/core/prompts";
import { AIMessage, HumanMessage, SystemMessage, type BaseMessage } from "@langchain/core/messages";
import { LlmFeedback } from "./llm-schema.js";
import type { LlmBackend } from "./models/factory.js";
import { LlmUnavailableError } from "./types.js";

export const PROMPT_VERSION = "feedback-v1";
const PROMPT_DIR = join(dirname(fileURLToPath(import.meta.url)), "prompts");
const file = (suffix: string) => readFileSync(join(PROMPT_DIR, `${PROMPT_VERSION}.${suffix}`), "utf8");

export interface PromptVars {
  task: string;
  learner_level: string;
  numbered: string;
  text: string;
  fluency: string;
  lessons: string;
}

interface Example {
  input: PromptVars;
  output: unknown;
}

let loaded: Promise<{ prompt: ChatPromptTemplate; repair: PromptTemplate }> | undefined;
function templates() {
  loaded ??= (async () => {
    const user = file("user.md");
    const userTpl = PromptTemplate.fromTemplate(user, { templateFormat: "mustache" });
    const examples = JSON.parse(file("examples.json")) as Example[];
    // Few-shot pairs are rendered once as literal messages: their JSON braces are not template syntax.
    const shots: BaseMessage[] = [];
    for (const ex of examples) shots.push(new HumanMessage(await userTpl.format({ ...ex.input })), new AIMessage(JSON.stringify(ex.output)));
    return {
      prompt: ChatPromptTemplate.fromMessages([new SystemMessage(file("system.md")), ...shots, ["human", user]], { templateFormat: "mustache" }),
      repair: PromptTemplate.fromTemplate(file("repair.md"), { templateFormat: "mustache" }),
    };
  })();
  return loaded;
}

export async function renderPrompt(vars: PromptVars): Promise<BaseMessage[]> {
  return (await templates()).prompt.formatMessages({ ...vars });
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

function validate(res: { parsed: unknown; raw: BaseMessage; error?: string }): { ok: true; value: LlmFeedback } | { ok: false; problems: string[] } {
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
  const r = LlmFeedback.safeParse(candidate);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: r.error.issues.slice(0, 8).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`) };
}

/** Runs the chain; throws LlmUnavailableError when the model cannot be reached. */
export async function runFeedbackChain(backend: LlmBackend, vars: PromptVars, signal?: AbortSignal): Promise<ChainResult> {
  const call = async (messages: BaseMessage[]): Promise<{ raw: BaseMessage; parsed: unknown; error?: string }> => {
    try {
      const structured = await backend.structured(LlmFeedback);
      return await structured.invoke(messages, { signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isUnavailable(e)) throw e instanceof LlmUnavailableError ? e : new LlmUnavailableError(`LLM unreachable (${backend.name}): ${(e as Error).message}`, { cause: e });
      // Some providers parse inside the call: a malformed answer is a bad answer, not an outage.
      if (e instanceof SyntaxError || (e as Error)?.name === "ZodError" || (e as Error)?.name === "OutputParserException") {
        return { raw: new AIMessage(""), parsed: null, error: `${(e as Error).name}: ${(e as Error).message.slice(0, 300)}` };
      }
      throw e;
    }
  };
  const messages = await renderPrompt(vars);
  const first = await call(messages);
  const v1 = validate(first);
  if (v1.ok) return { feedback: v1.value, status: "ok", problems: [] };
  const repairMsg = new HumanMessage(await (await templates()).repair.format({ problems: v1.problems.map((p) => `- ${p}`).join("\n") }));
  const second = await call([...messages, new AIMessage(contentOf(first.raw).slice(0, 4000)), repairMsg]);
  const v2 = validate(second);
  if (v2.ok) return { feedback: v2.value, status: "repaired", problems: v1.problems };
  return { feedback: null, status: "failed", problems: [...v1.problems, ...v2.problems] };
}
