// The remote path (ChatOpenAI with a base URL) against a real HTTP server on 127.0.0.1 that
// speaks the OpenAI chat-completions API, plus the quality gate and post-checks end to end.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BaseRetriever } from "@langchain/core/retrievers";
import { Document } from "@langchain/core/documents";
import { availableParallelism } from "node:os";
import { createAnalyzer } from "../../src/analysis/analyzer.js";
import { createLlmBackend } from "../../src/analysis/models/factory.js";
import { LlmUnavailableError } from "../../src/analysis/types.js";
import { ConfigSchema } from "../../src/config/index.js";
import { Report } from "../../src/protocol/report.js";
import type { Word } from "../../src/protocol/messages.js";
import { silentLogger } from "../../src/util/log.js";

type Reply = string | ((body: Record<string, unknown>) => string);
class FakeOpenAI {
  server: Server | undefined;
  requests: Record<string, unknown>[] = [];
  replies: Reply[] = [];
  port = 0;
  async start(port = 0) {
    this.server = createServer((req, res) => {
      let data = "";
      req.on("data", (c) => (data += c));
      req.on("end", () => {
        const body = JSON.parse(data) as Record<string, unknown>;
        this.requests.push(body);
        if (req.url !== "/v1/chat/completions") {
          res.writeHead(404).end();
          return;
        }
        const r = this.replies.length > 1 ? this.replies.shift()! : this.replies[0]!;
        const content = typeof r === "function" ? r(body) : r;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({
          id: "chatcmpl-1", object: "chat.completion", created: 1, model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", r));
    this.port = (this.server!.address() as AddressInfo).port;
  }
  async stop() {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}

const fake = new FakeOpenAI();
await fake.start();
after(() => fake.stop());

class ListRetriever extends BaseRetriever {
  override lc_namespace = ["test"];
  queries: string[] = [];
  constructor(private docs: Document[]) {
    super();
  }
  override async _getRelevantDocuments(q: string) {
    this.queries.push(q);
    return this.docs;
  }
}
const lesson = (id: string, tags: string[]) => new Document({ pageContent: id, metadata: { lesson_id: id, title: `Lesson ${id}`, url: `https://example.org/${id}`, level: "A2", tags } });

const config = (port: number) =>
  ConfigSchema.parse({ llm: { provider: "openai", model: "llama-3-8b-instruct", baseUrl: `http://127.0.0.1:${port}/v1`, timeoutMs: 5000 } });
const words = (text: string, conf: (i: number) => number = () => 0.95): Word[] =>
  text.split(" ").map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: conf(i) }));

// "yesterday I goes to the market and buyed some apples"
//  0         1 2    3  4   5      6   7     8    9
const SENTENCE = "yesterday I goes to the market and buyed some apples";
const feedback = (errors: unknown[], lessonIds: string[] = []) =>
  JSON.stringify({
    errors,
    strengths: ["Clear time expression."],
    level: { cefr: "A2", evidence: ["Simple past narrative."] },
    recommendations: [{ title: "Past simple", reason: "Two verbs were not in the past.", focus: "tense", lesson_ids: lessonIds }],
  });
const goes = { word_start: 2, word_end: 2, original: "goes", correction: "went", type: "tense", explanation: "Past event.", severity: "moderate" };
const buyed = { word_start: 7, word_end: 7, original: "buyed", correction: "bought", type: "verb_form", explanation: "Irregular verb.", severity: "moderate" };

test("normal: structured request, valid report, spans checked, resources only from retrieved lessons", async () => {
  fake.requests = [];
  fake.replies = [feedback([goes, buyed], ["past-simple", "invented-lesson"])];
  const retriever = new ListRetriever([lesson("past-simple", ["tense"]), lesson("articles", ["article"])]);
  const analyzer = await createAnalyzer(config(fake.port), { promptVersion: "feedback-v1", logger: silentLogger, retriever });
  const report = await analyzer.analyze({ sessionId: "s1", language: "en", words: words(SENTENCE), task: "Your last shopping trip" });
  assert.ok(Report.safeParse(report).success);
  assert.equal(report.llm_status, "ok");
  assert.equal(report.quality, "ok");
  assert.deepEqual(report.errors.map((e) => [e.original, e.correction, e.type]), [["goes", "went", "tense"], ["buyed", "bought", "verb_form"]]);
  for (const e of report.errors) assert.equal(report.transcript.text.slice(e.start, e.end), e.original);
  assert.deepEqual(report.recommendations[0]!.resources.map((r) => r.lesson_id), ["past-simple"]);
  assert.equal(report.level.cefr, "A2");
  assert.equal(report.versions.model, "openai:llama-3-8b-instruct");
  // The request asked for JSON-schema structured output and carried the numbered transcript.
  const body = fake.requests[0]!;
  const rf = body.response_format as { type: string; json_schema: { name: string } };
  assert.equal(rf.type, "json_schema");
  assert.equal(rf.json_schema.name, "speaking_feedback");
  assert.match(JSON.stringify(body.messages), /2:goes/);
  assert.equal(retriever.queries.length, 1);
  await analyzer.close();
});

test("post-check: a wrong word number is re-anchored on the quoted words; quoted text not in the transcript is dropped; uncertain span becomes recognition_uncertain", async () => {
  fake.replies = [
    feedback([
      { ...goes, word_start: 3, word_end: 3 }, // word 3 is "to": placed where "goes" is (word 2)
      { ...buyed, original: "bought" }, // quoted text not in the span: dropped
      { word_start: 9, word_end: 9, original: "apples", correction: "apple", type: "plural", explanation: "x", severity: "minor" },
      { word_start: 12, word_end: 14, original: "zz", correction: "y", type: "other", explanation: "x", severity: "minor" }, // outside
    ]),
  ];
  const analyzer = await createAnalyzer(config(fake.port), { promptVersion: "feedback-v1", logger: silentLogger });
  const report = await analyzer.analyze({ sessionId: "s2", language: "en", words: words(SENTENCE, (i) => (i === 9 ? 0.2 : 0.95)) });
  assert.equal(report.errors.length, 2);
  assert.equal(report.errors[0]!.original, "goes");
  assert.equal(report.transcript.text.slice(report.errors[0]!.start, report.errors[0]!.end), "goes");
  const e = report.errors[1]!;
  assert.equal(e.type, "recognition_uncertain");
  assert.equal(e.original, "apples");
  assert.match(e.explanation, /possibly a pronunciation or recognition issue/i);
  assert.equal(report.transcript.words[9]!.uncertain, true);
  await analyzer.close();
});

test("invalid JSON once -> one repair turn -> llm_status repaired", async () => {
  fake.requests = [];
  fake.replies = ["{\"errors\": [ this is not json", feedback([goes])];
  const analyzer = await createAnalyzer(config(fake.port), { promptVersion: "feedback-v1", logger: silentLogger });
  const report = await analyzer.analyze({ sessionId: "s3", language: "en", words: words(SENTENCE) });
  assert.equal(report.llm_status, "repaired");
  assert.equal(report.errors.length, 1);
  assert.equal(fake.requests.length, 2);
  const repairTurn = JSON.stringify((fake.requests[1]!.messages as unknown[]).at(-1));
  assert.match(repairTurn, /not valid/i);
  await analyzer.close();
});

test("invalid twice -> deterministic report with llm_status failed, no errors invented", async () => {
  fake.replies = [JSON.stringify({ errors: "nope" })];
  const analyzer = await createAnalyzer(config(fake.port), { promptVersion: "feedback-v1", logger: silentLogger });
  const report = await analyzer.analyze({ sessionId: "s4", language: "en", words: words(SENTENCE) });
  assert.ok(Report.safeParse(report).success);
  assert.equal(report.llm_status, "failed");
  assert.equal(report.errors.length, 0);
  assert.equal(report.fluency.word_count, 10);
  await analyzer.close();
});

test("server down -> LlmUnavailableError (transcript kept by the caller); back up -> report", async () => {
  const down = new FakeOpenAI();
  await down.start();
  const port = down.port;
  await down.stop();
  const analyzer = await createAnalyzer(config(port), { promptVersion: "feedback-v1", logger: silentLogger });
  const input = { sessionId: "s5", language: "en", words: words(SENTENCE) };
  await assert.rejects(analyzer.analyze(input), (e: unknown) => e instanceof LlmUnavailableError);
  down.replies = [feedback([goes])];
  await down.start(port);
  try {
    const report = await analyzer.analyze(input);
    assert.equal(report.llm_status, "ok");
    assert.equal(report.errors[0]!.correction, "went");
  } finally {
    await down.stop();
    await analyzer.close();
  }
});

test("empty, 2-word and all-uncertain transcripts: unusable, zero errors, the LLM is not called", async () => {
  fake.requests = [];
  fake.replies = [feedback([goes])];
  const analyzer = await createAnalyzer(config(fake.port), { promptVersion: "feedback-v1", logger: silentLogger });
  for (const ws of [[], words("hello there"), words(SENTENCE, () => 0.1)]) {
    const r = await analyzer.analyze({ sessionId: "s6", language: "en", words: ws });
    assert.ok(Report.safeParse(r).success);
    assert.equal(r.quality, "unusable");
    assert.equal(r.errors.length, 0);
    assert.equal(r.llm_status, "skipped");
    assert.match(r.message ?? "", /microphone|longer answer/i);
  }
  assert.equal(fake.requests.length, 0);
  await analyzer.close();
});

test("core policy: an embedded LLM waits while live transcription needs every core, then runs; remote never waits", async () => {
  const cores = availableParallelism();
  // The remote backend with the capability the policy reads (sharesCores), whatever its name:
  // what is under test is the analyzer's wait, not llama.cpp (test/analysis/embedded.test.ts
  // covers the real runtime).
  const cfg = ConfigSchema.parse({ ...config(fake.port), analysis: { maxDeferMs: 60_000 } });
  const remote = createLlmBackend(cfg, silentLogger);
  const asEmbedded = { ...remote, capabilities: { ...remote.capabilities, sharesCores: true } };
  assert.equal(asEmbedded.provider, "openai", "the name stays a remote one: only the capability changed");
  const budgets: number[] = [];
  asEmbedded.setThreadBudget = (n: number) => void budgets.push(n);
  const analyzer = await createAnalyzer(cfg, { promptVersion: "feedback-v1", logger: silentLogger, backend: asEmbedded });

  fake.requests = [];
  fake.replies = [feedback([goes])];
  analyzer.setSttThreads(cores);
  let done = false;
  const p = analyzer.analyze({ sessionId: "wait", language: "en", words: words(SENTENCE) }).then((r) => ((done = true), r));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fake.requests.length, 0, "no LLM request while every core is transcribing");
  assert.equal(done, false);
  analyzer.setSttThreads(cores - 1);
  const report = await p;
  assert.equal(report.llm_status, "ok");
  assert.equal(fake.requests.length, 1);
  assert.equal(budgets.at(-1), 1, "and it runs on the core left free");

  // maxDeferMs bounds the wait; a remote provider does not wait at all.
  const shortCfg = ConfigSchema.parse({ ...config(fake.port), analysis: { maxDeferMs: 200 } });
  const bounded = await createAnalyzer(shortCfg, { promptVersion: "feedback-v1", logger: silentLogger, backend: { ...createLlmBackend(shortCfg, silentLogger), capabilities: { sharesCores: true, writesFeedback: true, logProbs: false } } });
  bounded.setSttThreads(cores);
  assert.equal((await bounded.analyze({ sessionId: "bounded", language: "en", words: words(SENTENCE) })).llm_status, "ok");
  const plain = await createAnalyzer(cfg, { promptVersion: "feedback-v1", logger: silentLogger });
  plain.setSttThreads(cores);
  const before = fake.requests.length;
  await plain.analyze({ sessionId: "remote", language: "en", words: words(SENTENCE) });
  assert.equal(fake.requests.length, before + 1);
  await Promise.all([analyzer.close(), bounded.close(), plain.close()]);
});
