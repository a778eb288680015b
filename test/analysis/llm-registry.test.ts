// The LLM provider seam is a registry: a provider registered there alone (no edit to the schema,
// the factory or the analyzer) is what llm.provider picks, and what code treats differently is
// decided by its capabilities, never by its name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AIMessage } from "@langchain/core/messages";
import { RunnableLambda } from "@langchain/core/runnables";
import { createAnalyzer } from "../../src/analysis/analyzer.js";
import { createLlmBackend, llmProvider, registerLlmProvider, UnknownLlmProviderError, type LlmBackend } from "../../src/analysis/models/factory.js";
import { buildAnalyzer } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { serverModels } from "../../src/models/server-models.js";
import { silentLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers/gateway.js";

const answer = { errors: [{ original: "I go", correction: "I went", type: "tense", severity: "moderate", explanation: "Past time: past simple." }], level: { cefr: "A2", reason: "Simple sentence." }, strength: "Clear time phrase." };
const words = "yesterday I go to the park with my friends".split(" ").map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 0.9 }));
const created: string[] = [];

registerLlmProvider("throwaway-test-llm", {
  capabilities: { sharesCores: false, writesFeedback: true, logProbs: false },
  create: (config): LlmBackend => {
    created.push(config.llm.model ?? "(default)");
    return {
      provider: "throwaway-test-llm",
      capabilities: { sharesCores: false, writesFeedback: true, logProbs: false },
      name: `throwaway-test-llm:${config.llm.model ?? "x"}`,
      chatModel: async () => ({}) as never, // a plain chat model: no likelihood scoring
      structured: async () => RunnableLambda.from(async () => ({ raw: new AIMessage(JSON.stringify(answer)), parsed: answer })) as never,
      setThreadBudget: () => undefined,
      prime: async () => ({ sequences: 0, tokens: 0 }),
      close: async () => undefined,
    };
  },
});

const cfg = (env: Record<string, string>) => loadConfig({ env: { PARLANCE_DATA_DIR: tempDir(), ...env } });

test("a provider registered through the registry alone is picked by llm.provider and writes the report", async () => {
  const config = cfg({ PARLANCE_LLM_PROVIDER: "throwaway-test-llm", PARLANCE_LLM_MODEL: "m1" });
  const analyzer = await createAnalyzer(config, { logger: silentLogger });
  const report = await analyzer.analyze({ sessionId: "r1", language: "en", words });
  assert.deepEqual(created, ["m1"]);
  assert.equal(report.llm_status, "ok");
  assert.equal(report.versions.model, "throwaway-test-llm:m1");
  assert.deepEqual(report.errors.map((e) => e.correction), ["I went"]);
  await analyzer.close();
  assert.equal(serverModels(config).some((m) => m.kind === "llm"), false, "no localModel: nothing to pull for it");
});

test("capabilities, not names: the built-ins declare what the core policy and the report builder read", async () => {
  assert.equal(llmProvider("embedded").capabilities.sharesCores, true);
  for (const remote of ["ollama", "openai"]) assert.equal(llmProvider(remote).capabilities.sharesCores, false);
  assert.equal(llmProvider("fake").capabilities.writesFeedback, false);
  const deterministic = await buildAnalyzer(cfg({ PARLANCE_LLM_PROVIDER: "fake" }), null as never, silentLogger);
  assert.equal(deterministic.modelName, "none", "a provider that writes no feedback gets the deterministic analyzer");
  assert.ok(llmProvider("embedded").localModel, "the embedded provider names its model file");
  assert.equal(llmProvider("embedded").capabilities.logProbs, true, "only it scores text for the span repair");
  for (const remote of ["ollama", "openai"]) assert.equal(llmProvider(remote).capabilities.logProbs, false);
});

test("an unknown provider is a typed error listing the registered ones; a name registers once", () => {
  const config = cfg({ PARLANCE_LLM_PROVIDER: "no-such-llm" });
  assert.throws(() => createLlmBackend(config, silentLogger), (e: Error) => e instanceof UnknownLlmProviderError && /embedded/.test(e.message) && /throwaway-test-llm/.test(e.message));
  assert.throws(() => registerLlmProvider("embedded", llmProvider("embedded")), /registered twice/);
});
