// The progressive report at the analyzer seam: the deterministic parts go out before the LLM is
// asked (a stand-in backend records when it is called: the LLM is outside the unit under test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { AIMessage } from "@langchain/core/messages";
import { RunnableLambda } from "@langchain/core/runnables";
import { createAnalyzer } from "../../src/analysis/analyzer.js";
import type { LlmBackend } from "../../src/analysis/models/factory.js";
import { ConfigSchema } from "../../src/config/index.js";
import { Report } from "../../src/protocol/report.js";
import { silentLogger } from "../../src/util/log.js";

function backend(answer: unknown, events: string[]): LlmBackend {
  return {
    provider: "ollama",
    capabilities: { sharesCores: false, writesFeedback: true, logProbs: false },
    name: "stand-in",
    chatModel: async () => {
      throw new Error("not used");
    },
    structured: async () =>
      RunnableLambda.from(async () => {
        events.push("llm");
        return { raw: new AIMessage(JSON.stringify(answer)), parsed: answer };
      }) as never,
    setThreadBudget: () => undefined,
    prime: async () => ({ sequences: 0, tokens: 0 }),
    close: async () => undefined,
  };
}
const words = "yesterday I go to the park with my friends".split(" ").map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 0.9 }));
const config = ConfigSchema.parse({ llm: { provider: "ollama" } });

test("provisional report: transcript, fluency and vocabulary before the LLM runs; then the complete one", async () => {
  const events: string[] = [];
  const answer = { errors: [{ original: "I go", correction: "I went", type: "tense", severity: "moderate", explanation: "Past time: past simple." }], level: { cefr: "A2", reason: "Simple sentence." }, strength: "Clear time phrase." };
  const analyzer = await createAnalyzer(config, { logger: silentLogger, backend: backend(answer, events) });
  let provisional: Report | undefined;
  const report = await analyzer.analyze({ sessionId: "p1", language: "en", words, onProvisional: (r) => (events.push("provisional"), (provisional = r)) });
  assert.deepEqual(events, ["provisional", "llm"]);
  assert.ok(provisional && Report.safeParse(provisional).success);
  assert.equal(provisional.status, "pending");
  assert.equal(provisional.llm_status, "pending");
  assert.equal(provisional.transcript.text, report.transcript.text);
  assert.deepEqual(provisional.fluency, report.fluency);
  assert.deepEqual(provisional.errors, []);
  assert.equal(report.status, "complete");
  assert.deepEqual(report.errors.map((e) => [e.original, e.correction]), [["I go", "I went"]]);
  // No lessons offered (no retriever): the recommendation cites nothing rather than an invention.
  assert.ok(report.recommendations.every((r) => r.resources.length === 0));
});

test("provisional report: not sent when no LLM runs (unusable transcript), and a throwing listener does not stop the report", async () => {
  const events: string[] = [];
  const analyzer = await createAnalyzer(config, { logger: silentLogger, backend: backend({ errors: [], level: { cefr: "A1", reason: "" }, strength: "" }, events) });
  await analyzer.analyze({ sessionId: "p2", language: "en", words: words.slice(0, 2), onProvisional: () => events.push("provisional") });
  assert.deepEqual(events, []);
  const r = await analyzer.analyze({
    sessionId: "p3",
    language: "en",
    words,
    onProvisional: () => {
      throw new Error("listener bug");
    },
  });
  assert.equal(r.status, "complete");
  assert.deepEqual(events, ["llm"]);
});

test("analysis.prompt picks the prompt version; only feedback-v4 asks the backend to cut its answer, and the report records the version", async () => {
  const answer = { level: { cefr: "A2", reason: "Simple sentence." }, strength: "Clear time phrase.", errors: [{ original: "I go", explanation: "Past time: go becomes went.", correction: "I went", type: "tense", severity: "moderate" }] };
  for (const [prompt, cuts] of [["feedback-v4", true], ["feedback-v2", false]] as const) {
    const asked: boolean[] = [];
    const b = backend(answer, []);
    const inner = b.structured;
    b.structured = async (schema, opts) => {
      asked.push(typeof opts?.cut === "function");
      return inner(schema, opts);
    };
    const cfg = ConfigSchema.parse({ llm: { provider: "ollama" }, analysis: { prompt } });
    const analyzer = await createAnalyzer(cfg, { logger: silentLogger, backend: b });
    assert.equal(analyzer.promptVersion, prompt);
    const report = await analyzer.analyze({ sessionId: `v-${prompt}`, language: "en", words });
    assert.deepEqual(asked, [cuts]);
    assert.equal(report.versions.prompt, prompt);
    assert.deepEqual(report.errors.map((e) => [e.original, e.correction]), [["I go", "I went"]]);
  }
  // Outside the listed versions, the configuration refuses the value.
  assert.throws(() => ConfigSchema.parse({ analysis: { prompt: "feedback-v9" } }));
});

test("feedback-v5 finds errors by likelihood: on a backend that cannot score text the analyzer writes them with feedback-v2 instead, and says so", async () => {
  const lines: string[] = [];
  const logger = { ...silentLogger, info: (o: unknown, msg?: string) => void lines.push(`${msg} ${JSON.stringify(o)}`), child: () => logger } as unknown as typeof silentLogger;
  const answer = { errors: [{ original: "I go", explanation: "Past time: go becomes went.", correction: "I went", type: "tense", severity: "moderate" }], level: { cefr: "A2", reason: "Simple sentence." }, strength: "Clear time phrase." };
  const cfg = ConfigSchema.parse({ llm: { provider: "ollama" }, analysis: { prompt: "feedback-v5" } });
  const analyzer = await createAnalyzer(cfg, { logger, backend: backend(answer, []) });
  assert.equal(analyzer.promptVersion, "feedback-v2");
  assert.ok(lines.some((l) => l.includes("cannot score text") && l.includes('"wanted":"feedback-v5"')), lines.join("\n"));
  const report = await analyzer.analyze({ sessionId: "v5-remote", language: "en", words });
  assert.equal(report.versions.prompt, "feedback-v2");
  assert.deepEqual(report.errors.map((e) => [e.original, e.correction]), [["I go", "I went"]]);
});
