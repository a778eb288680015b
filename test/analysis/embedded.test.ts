// The embedded runtime on a real GGUF file (tiny random Llama: valid file, meaningless text).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { ChatNodeLlamaCpp, EmbeddedRuntime } from "../../src/analysis/models/embedded.js";
import { createAnalyzer } from "../../src/analysis/analyzer.js";
import { createLlmBackend, type LlmBackend } from "../../src/analysis/models/factory.js";
import { LlmFeedback } from "../../src/analysis/llm-schema.js";
import { PROMPT_VERSION } from "../../src/analysis/chain.js";
import { ConfigSchema } from "../../src/config/index.js";
import { Report } from "../../src/protocol/report.js";
import { silentLogger } from "../../src/util/log.js";

const MODEL = "/work/shared/models/tiny-random-llama.gguf";
const runtime = await EmbeddedRuntime.load({ modelPath: MODEL, threads: 2, contextSize: 2048, sequences: 2 });
after(() => runtime.close());

const Small = z.object({ verdict: z.enum(["yes", "no"]), items: z.array(z.object({ word: z.string().max(12), n: z.number() })).max(2) });

test("withStructuredOutput(zod) through the JSON-schema grammar always parses", async () => {
  const model = new ChatNodeLlamaCpp({ runtime, maxTokens: 300 });
  const out = await model.withStructuredOutput(Small, { includeRaw: true }).invoke([["system", "Answer in JSON."], ["human", "Is this correct: I goes home?"]]);
  assert.ok(Small.safeParse(out.parsed).success);
  // The raw text is JSON of that shape too (grammar, not post-hoc cleaning).
  assert.deepEqual(Small.parse(JSON.parse(String(out.raw.content))), out.parsed);
});

test("a structured answer zod refuses comes back as { parsed: null, error } (the field the chain reads), raw text kept", async () => {
  // The grammar cannot express a refinement, so the text parses as JSON and zod refuses it.
  const Never = z.object({ verdict: z.enum(["yes", "no"]).refine(() => false, "refused by the refinement") });
  const model = new ChatNodeLlamaCpp({ runtime, maxTokens: 60 });
  const out = (await model.withStructuredOutput(Never, { includeRaw: true }).invoke([["human", "Say something"]])) as Record<string, unknown>;
  assert.equal(out.parsed, null);
  assert.equal(typeof out.error, "string", `error is what runFeedbackChain reads; got keys ${Object.keys(out).join(", ")}`);
  assert.match(out.error as string, /refused by the refinement/);
  assert.ok(!("parsingError" in out));
  assert.ok(String((out.raw as { content: unknown }).content).length > 0, "the raw text stays for the repair turn");
});

test("streams chunks, runs two requests on separate sequences, honours abort", async () => {
  const model = new ChatNodeLlamaCpp({ runtime, maxTokens: 24 });
  const chunks: string[] = [];
  for await (const c of await model.stream("Say something")) chunks.push(String(c.content));
  assert.ok(chunks.length > 1);
  const [a, b] = await Promise.all([model.invoke("one"), model.invoke("two")]);
  assert.ok(String(a.content).length > 0 && String(b.content).length > 0);
  const ac = new AbortController();
  const long = new ChatNodeLlamaCpp({ runtime, maxTokens: 2000 });
  const p = long.invoke("a long answer please", { signal: ac.signal });
  setTimeout(() => ac.abort(), 30);
  await assert.rejects(p, (e: Error) => e.name === "AbortError" || /abort/i.test(e.message));
  // The sequence went back to the pool: the next request still runs.
  assert.ok(String((await model.invoke("after abort")).content).length > 0);
});

test("analyzer on the embedded provider: the full report schema, model and prompt versions", async () => {
  // ~18 s on a quiet 2-core machine, several times that when other work shares the cores: the
  // production 120 s LLM timeout is not what this test is about.
  const config = ConfigSchema.parse({ llm: { provider: "embedded", model: MODEL, threads: 2, contextSize: 4096, maxOutputTokens: 3000, timeoutMs: 900_000 } });
  const analyzer = await createAnalyzer(config, { logger: silentLogger });
  try {
    const words = "yesterday I goes to the market and buyed some apples for my mother".split(" ").map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 0.95 }));
    const report = await analyzer.analyze({ sessionId: "s1", language: "en", words });
    assert.ok(Report.safeParse(report).success);
    assert.equal(report.llm_status, "ok"); // the grammar made the LLM's JSON valid first time
    assert.equal(report.versions.model, "embedded:tiny-random-llama.gguf");
    assert.equal(report.versions.prompt, PROMPT_VERSION);
    // Whatever the random model wrote, every error left points at its own text.
    for (const e of report.errors) assert.equal(report.transcript.text.slice(e.start, e.end), e.original);
    assert.ok(LlmFeedback); // schema module loads
  } finally {
    await analyzer.close();
  }
});

test("an answer cut: generation stops when the cut returns a text, that text is the answer; the caller's abort still throws", async () => {
  const model = new ChatNodeLlamaCpp({ runtime, maxTokens: 200 });
  const seen: string[] = [];
  const cut = (partial: string) => {
    seen.push(partial);
    return partial.length >= 8 ? '{"verdict":"no","items":[]}' : null;
  };
  const out = await model.withStructuredOutput(Small, { includeRaw: true, cut }).invoke([["human", "Is this correct: I goes home?"]]);
  assert.deepEqual(out.parsed, { verdict: "no", items: [] });
  assert.equal(runtime.lastCall?.cut, true);
  // Each call saw the whole answer so far: every text extends the one before, and the last one
  // is the first that was long enough (nothing was generated past the cut into the answer).
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.startsWith(seen[i - 1]!));
  assert.ok(seen.at(-1)!.length >= 8 && seen.slice(0, -1).every((s) => s.length < 8));
  const aborted = AbortSignal.abort(new Error("caller gave up"));
  await assert.rejects(model.withStructuredOutput(Small, { includeRaw: true, cut }).invoke([["human", "Again?"]], { signal: aborted }));
});

test("logProb and wordScores equal the full softmax's log-probabilities, position by position", async () => {
  const context = "Correct English: the cat";
  const text = " sat on the mat";
  const ctx = runtime.model.tokenize(context, true);
  const all = [...ctx, ...runtime.model.tokenize(text, false)];
  // Reference: the whole distribution at every position (slow; what the fast path must equal).
  const reference = (tokens: readonly number[]) =>
    runtime.withSide(async (seq) => {
      await seq.clearHistory();
      const out = await seq.controlledEvaluate(tokens.slice(0, -1).map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 0, topK: 0, topP: 1, minP: 0 } } }]) as never);
      return tokens.slice(1).map((t, k) => Math.log((out[k]?.next as { probabilities: Map<number, number> }).probabilities.get(t)!));
    });
  const ref = await reference(all);
  const want = ref.slice(ctx.length - 1).reduce((a, b) => a + b, 0);
  const got = await runtime.logProb(context, text);
  assert.equal(got.tokens, all.length - ctx.length);
  assert.ok(Math.abs(got.logProb - want) < 1e-3 * Math.max(1, Math.abs(want)), `${got.logProb} vs ${want}`);
  // wordScores: each word's tokens summed (a word is tokenized on its own, as its alternatives are),
  // and the first token of an alternative where a word starts.
  const words = text.trim().split(" ");
  const byWord = [...ctx, ...words.flatMap((w) => runtime.model.tokenize(` ${w}`, false))];
  const wantWords = (await reference(byWord)).slice(ctx.length - 1).reduce((a, b) => a + b, 0);
  const s = await runtime.scoreWords(context, words, 0, words.map(() => ["dog"]));
  const gotWords = s.word.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(gotWords - wantWords) < 1e-3 * Math.max(1, Math.abs(wantWords)), `${gotWords} vs ${wantWords}`);
  const dog = runtime.model.tokenize(" dog", false)[0]!;
  const first = await runtime.withSide(async (seq) => {
    await seq.clearHistory();
    const out = await seq.controlledEvaluate(ctx.map((t, k) => (k < ctx.length - 1 ? t : [t, { generateNext: { probabilities: true, options: { temperature: 0, topK: 0, topP: 1, minP: 0 } } }])) as never);
    return Math.log((out[ctx.length - 1]?.next as { probabilities: Map<number, number> }).probabilities.get(dog)!);
  });
  assert.ok(Math.abs(s.alt[0]![0]! - first) < 1e-3 * Math.max(1, Math.abs(first)), `${s.alt[0]![0]} vs ${first}`);
  // Words before `from` are context; what the sequence still holds is not evaluated again, and the
  // scores are the same as from a fresh sequence.
  await runtime.scoreWords(context, [...words.slice(0, 2), "a", "cat"], 2);
  const again = await runtime.scoreWords(context, words, 2);
  assert.ok(Number.isNaN(again.word[0]!) && Number.isNaN(again.word[1]!));
  for (let i = 2; i < words.length; i++) assert.ok(Math.abs(again.word[i]! - s.word[i]!) < 1e-3 * Math.max(1, Math.abs(s.word[i]!)), `${words[i]}: ${again.word[i]} vs ${s.word[i]}`);
  assert.deepEqual(again.tokens, s.tokens);
});

test("an analysis aborted while the likelihood search and the model's writing both run rejects once, with nothing left unhandled", async () => {
  const config = ConfigSchema.parse({ llm: { provider: "embedded", model: MODEL, threads: 2, contextSize: 4096, maxOutputTokens: 3000, timeoutMs: 900_000 } });
  const real = createLlmBackend(config, silentLogger);
  // The model's writing outlives the abort by 300 ms, so the search (which stops at the abort) fails first.
  const backend: LlmBackend = {
    ...real,
    structured: async () =>
      ({
        invoke: async () => {
          await new Promise((r) => setTimeout(r, 300));
          throw Object.assign(new Error("aborted"), { name: "AbortError" });
        },
      }) as never,
  };
  const analyzer = await createAnalyzer(config, { logger: silentLogger, backend });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    const words = Array.from({ length: 6 }, () => "yesterday I goes to the market and buyed some apple for my mother").join(" ").split(" ").map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 0.95 }));
    for (const delayMs of [0, 20, 60]) {
      const ac = new AbortController();
      const p = analyzer.analyze({ sessionId: `abort-${delayMs}`, language: "en", words, signal: ac.signal });
      setTimeout(() => ac.abort(), delayMs);
      await assert.rejects(p);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await analyzer.close();
  }
});
