// Issue 6, acceptance 1: SIGKILL mid-stream loses nothing that was sent as final, and analysis
// jobs pending at the crash complete after a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { spawnServer } from "../helpers/process.js";
import { freePort } from "../helpers/ports.js";
import { authed, tempDir } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { pipelineEnv, sendPaced, wavChunks } from "../helpers/pipeline.js";
import { loadConfig } from "../../src/config/index.js";
import { createRepository } from "../../src/store/index.js";
import { silentLogger } from "../../src/util/log.js";

function getJson(url: string, ca: string, token: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: new Agent({ ca }), headers: { authorization: `Bearer ${token}` } }, (res) => {
      let t = "";
      res.on("data", (d) => (t += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: t ? JSON.parse(t) : null }));
    })
      .on("error", reject)
      .end();
  });
}

test("SIGKILL mid-stream: every final is stored; pending analyses complete after restart", { timeout: 240_000 }, async () => {
  const dataDir = tempDir();
  // Random-weight Whisper words have low confidence; the quality gate would then (rightly) finish
  // the report without the LLM. This test is about jobs that need the LLM, so let every word count.
  const base = { ...pipelineEnv(), PARLANCE_DATA_DIR: dataDir, PARLANCE_ANALYSIS_CONFIDENCE_THRESHOLD: "0", PARLANCE_ANALYSIS_MIN_WORDS: "1" };
  // First life: the LLM server is down, so analysis jobs wait in the store (retry far in the future).
  const first = await spawnServer({
    ...base,
    PARLANCE_LLM_PROVIDER: "openai",
    PARLANCE_LLM_BASE_URL: `http://127.0.0.1:${await freePort()}/v1`,
    PARLANCE_LLM_MODEL: "llama-3-8b-instruct",
    PARLANCE_ANALYSIS_RETRY_BASE_MS: "600000",
    // Without it the base above was silently capped at the default 120 s; now the pair is refused.
    PARLANCE_ANALYSIS_RETRY_MAX_MS: "600000",
  });
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  const gw = { wsUrl: first.wsUrl, ca };
  const token = await hsToken({ sub: "crash-learner" });

  // Session A ends normally; its analysis is pending when the process dies.
  const a = await authed(gw, token);
  const readyA = await a.next("ready");
  await sendPaced(a.ws, wavChunks("jfk.wav"), 250, 4);
  a.ws.send(JSON.stringify({ type: "end" }));
  await a.next("analysis_started", 60_000);
  const provisional = await a.next("report", 30_000);
  assert.equal((provisional.report as { status: string }).status, "pending", "LLM down: a provisional report");

  // Session B is mid-stream when the process is killed.
  const b = await authed(gw, token);
  const readyB = await b.next("ready");
  const streaming = sendPaced(b.ws, wavChunks("jfk.wav"));
  await b.next("final", 60_000);
  first.child.kill("SIGKILL");
  await first.exited;
  await streaming;
  await b.closed;
  const seenFinals = b.messages.filter((m) => m.type === "final");
  assert.ok(seenFinals.length >= 1);

  // Every final the client saw is in the store, word for word.
  const config = loadConfig({ env: { PARLANCE_DATA_DIR: dataDir } });
  const repo = await createRepository(config, silentLogger);
  const stored = await repo.getSegments(readyB.session_id as string);
  for (const f of seenFinals) {
    const s = stored.find((x) => x.segmentId === f.segment_id);
    assert.ok(s, `final ${f.segment_id} stored`);
    assert.equal(s.text, f.text);
    assert.deepEqual(s.words, f.words);
  }
  const jobsA = await repo.listJobs(readyA.session_id as string);
  assert.ok(jobsA.some((j) => j.status === "pending" || j.status === "running"), JSON.stringify(jobsA));
  await repo.close();

  // Second life: the LLM works (real GGUF model); the pending job and the interrupted session are analysed.
  const second = await spawnServer(base);
  for (const id of [readyA.session_id, readyB.session_id] as string[]) {
    let res = await getJson(`${second.url}/v1/sessions/${id}/report`, ca, token);
    const deadline = Date.now() + 150_000;
    while (res.status === 202 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      res = await getJson(`${second.url}/v1/sessions/${id}/report`, ca, token);
    }
    assert.equal(res.status, 200, `report for ${id}: ${JSON.stringify(res.body)}\n${second.output().split("\n").filter((l) => /"level":[3456]0/.test(l)).join("\n").slice(-6000)}`);
    assert.equal(res.body.report.session_id, id);
    assert.equal(res.body.report.status, "complete");
  }
  const sessionB = await getJson(`${second.url}/v1/sessions/${readyB.session_id}`, ca, token);
  assert.equal(sessionB.body.session.status, "interrupted");
  assert.ok(sessionB.body.transcript.segments.length >= seenFinals.length);
  const exit = await second.stop("SIGTERM");
  assert.equal(exit.code, 0, second.output());
});
