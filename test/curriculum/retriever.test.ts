import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { silentLogger } from "../../src/util/log.js";
import {
  createCurriculumRetriever,
  importCurriculum,
  DEFAULT_CURRICULUM_DIR,
  OpenAIEmbedder,
  EmbeddingError,
  embeddingsEndpoint,
  groundReportResources,
  tokenize,
  Bm25Index,
  createEmbedder,
} from "../../src/curriculum/index.js";
import { loadConfig } from "../../src/config/index.js";
import { makeReport } from "../store/fixtures.js";

async function sampleRepo() {
  const r = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await r.migrate();
  await importCurriculum(r, DEFAULT_CURRICULUM_DIR, silentLogger);
  return r;
}

test("bm25: rarer shared terms score higher; no overlap scores 0", () => {
  const idx = new Bm25Index(["the cat sat on the mat", "the dog ate the bone", "a cat and a dog"]);
  const s = idx.scores("cat mat");
  assert.ok(s[0]! > s[2]! && s[2]! > 0);
  assert.equal(s[1], 0);
  assert.deepEqual(tokenize("Children's WATCHES, cities; don't"), ["children", "watch", "city", "dont"]);
});

test("retriever: LangChain Documents carry lesson_id, title, url, level, tags, score", async () => {
  const repo = await sampleRepo();
  try {
    const retriever = createCurriculumRetriever(repo, { k: 3 });
    const docs = await retriever.invoke("she gave me an advice, informations");
    assert.equal(docs.length, 3);
    const m = docs[0]!.metadata;
    assert.equal(m.lesson_id, "plural-uncountable");
    assert.equal(m.title, "Uncountable nouns: advice, information, furniture");
    assert.equal(m.url, "/lessons/plural-uncountable");
    assert.equal(m.level, "B1");
    assert.deepEqual(m.tags, ["plural", "article"]);
    assert.ok(m.score > docs[1]!.metadata.score || m.score === docs[1]!.metadata.score);
    assert.match(docs[0]!.pageContent, /^Uncountable nouns/);
    for (const d of docs) assert.ok(await repo.getLesson(d.metadata.lesson_id));
  } finally {
    await repo.close();
  }
});

test("retriever: tags and level re-order results; lessonsForErrors groups by top error types", async () => {
  const repo = await sampleRepo();
  try {
    const retriever = createCurriculumRetriever(repo);
    const plain = await retriever.search("since for how long", { k: 5 });
    const tagged = await retriever.search("since for how long", { k: 5, tags: ["preposition"] });
    assert.ok(tagged.every((r, i) => i === 0 || !r.matchesTags || tagged[i - 1]!.matchesTags), "tag matches come first");
    assert.ok(tagged[0]!.lesson.tags.includes("preposition"));
    assert.ok(plain.length > 0);
    const a1 = await retriever.search("plural nouns", { k: 6, level: "A1" });
    const firstOff = a1.findIndex((r) => !r.matchesLevel);
    assert.ok(firstOff === -1 || a1.slice(firstOff).every((r) => !r.matchesLevel), "level matches come first");

    const groups = await retriever.lessonsForErrors(
      [
        { type: "tense", original: "go", correction: "went" },
        { type: "article", original: "a apple", correction: "an apple" },
        { type: "tense", original: "I have seen him yesterday", correction: "I saw him yesterday" },
        { type: "other", original: "x", correction: "y" },
      ],
      { level: "A2", perType: 2 },
    );
    assert.deepEqual(groups.map((g) => [g.type, g.count]), [["tense", 2], ["article", 1]]);
    assert.ok(groups[0]!.results.every((r) => r.lesson.tags.includes("tense")));
    assert.equal(groups[1]!.results[0]!.lesson.id, "article-a-an");
  } finally {
    await repo.close();
  }
});

test("grounding: unknown lessons are dropped; title/url/level come from the store", async () => {
  const repo = await sampleRepo();
  try {
    const report = makeReport("s1");
    report.recommendations = [
      {
        title: "Past tense",
        reason: "r",
        focus: "tense",
        resources: [
          { lesson_id: "tense-past-simple", title: "made-up title", url: "https://invented.example/x" },
          { lesson_id: "no-such-lesson", title: "Invented", url: "https://invented.example/y" },
          { lesson_id: "tense-past-simple", title: "dup", url: null },
        ],
      },
    ];
    const { report: grounded, dropped } = await groundReportResources(report, repo);
    assert.deepEqual(dropped, ["no-such-lesson"]);
    assert.deepEqual(grounded.recommendations[0]!.resources, [
      { lesson_id: "tense-past-simple", title: "Past simple for finished events", url: "/lessons/tense-past-simple", level: "A2" },
    ]);
  } finally {
    await repo.close();
  }
});

// A real local HTTP server speaking the OpenAI embeddings API. Its "model" maps "zebra" and
// "stripes" to the same dimension (a synonym BM25 cannot see), so similarity is predictable.
const DIMS = [/zebra|stripes/g, /quartz/g, /violin/g];
function startEmbeddingsServer(): Promise<{ server: Server; url: string; fail: (on: boolean) => void; batches: number[] }> {
  let failing = false;
  const batches: number[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (failing || req.url !== "/v1/embeddings" || req.method !== "POST") {
        res.writeHead(failing ? 503 : 404).end("no");
        return;
      }
      const { input, model } = JSON.parse(body) as { input: string[]; model: string };
      batches.push(input.length);
      const data = input.map((t, index) => ({
        index,
        object: "embedding",
        embedding: [...DIMS.map((re) => (t.toLowerCase().match(re) ?? []).length), 0.01],
      }));
      // Out of order on purpose: clients must sort by `index`.
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: data.reverse(), model }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fail: (on) => (failing = on), batches }),
    ),
  );
}

test("hybrid: embeddings from an OpenAI-compatible endpoint are fused by RRF; outage falls back to BM25", async () => {
  const srv = await startEmbeddingsServer();
  const repo = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await repo.migrate();
  try {
    await repo.upsertLesson({ id: "horse", title: "Horses", level: null, tags: [], body: "a horse with stripes and more stripes", url: null, contentHash: "1" });
    await repo.upsertLesson({ id: "rock", title: "Rocks", level: null, tags: [], body: "quartz is a rock", url: null, contentHash: "2" });
    await repo.upsertLesson({ id: "music", title: "Music", level: null, tags: [], body: "the violin is an instrument", url: null, contentHash: "3" });
    assert.equal(embeddingsEndpoint(srv.url), `${srv.url}/v1/embeddings`);
    assert.equal(embeddingsEndpoint(`${srv.url}/v1/`), `${srv.url}/v1/embeddings`);

    // BM25 alone cannot know that a zebra has stripes.
    assert.deepEqual(await createCurriculumRetriever(repo).search("zebra"), []);

    const embedder = new OpenAIEmbedder({ baseUrl: srv.url, model: "marker-embed" });
    const hybrid = createCurriculumRetriever(repo, { k: 3, embedder });
    const z = await hybrid.search("zebra", { k: 3 });
    assert.equal(z[0]!.lesson.id, "horse");
    assert.equal(z[0]!.bm25, 0);
    assert.ok(z[0]!.similarity! > 0.99);
    assert.ok(Math.abs(z[0]!.score - 1 / 61) < 1e-12, "only the vector list ranks it, first: RRF 1/(60+1)");

    // Both lists agree on "quartz": the fused score is the sum of two first ranks.
    const q = await hybrid.search("quartz", { k: 1 });
    assert.equal(q[0]!.lesson.id, "rock");
    assert.ok(Math.abs(q[0]!.score - 2 / 61) < 1e-12);
    const docs = await hybrid.invoke("quartz");
    assert.equal(docs[0]!.metadata.lesson_id, "rock");

    // Outage at query time: the search still answers from BM25.
    srv.fail(true);
    const fallback = await hybrid.search("quartz", { k: 1 });
    assert.equal(fallback[0]!.lesson.id, "rock");
    assert.equal(fallback[0]!.similarity, null);
    await assert.rejects(embedder.embed(["x"]), EmbeddingError);
  } finally {
    await repo.close();
    await new Promise((r) => srv.server.close(r));
  }
});

test("embeddings settings: curriculum.embeddingBatchSize texts per request, curriculum.embeddingMaxBytes caps the answer", async () => {
  const srv = await startEmbeddingsServer();
  try {
    const embedder = (env: Record<string, string>) =>
      createEmbedder(
        loadConfig({ env: { PARLANCE_CURRICULUM_EMBEDDINGS: "openai", PARLANCE_CURRICULUM_EMBEDDING_URL: srv.url, PARLANCE_CURRICULUM_EMBEDDING_MODEL: "marker-embed", ...env } }),
        silentLogger,
      )!;
    const texts = ["a horse", "stripes", "quartz", "a rock", "violin"];
    const vectors = await embedder({ PARLANCE_CURRICULUM_EMBEDDING_BATCH_SIZE: "2" }).embed(texts);
    assert.equal(vectors.length, 5);
    assert.deepEqual(srv.batches, [2, 2, 1]);
    // One 5-text answer is a few hundred bytes of JSON: a 100-byte cap refuses it, 100 KB does not.
    await assert.rejects(embedder({ PARLANCE_CURRICULUM_EMBEDDING_MAX_BYTES: "100" }).embed(texts), (e: unknown) => e instanceof EmbeddingError && /answer too large/.test(e.message));
    assert.equal((await embedder({ PARLANCE_CURRICULUM_EMBEDDING_MAX_BYTES: "100000" }).embed(texts)).length, 5);
  } finally {
    await new Promise((r) => srv.server.close(r));
  }
});
