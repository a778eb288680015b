// A real parlance gateway (TLS, JWT auth, protocol v1 session, audio ingest, streaming policy) on a
// free loopback port, for the client tests. What lies outside the clients' reach is scripted: the
// transcriber "hears" the JFK sentence laid out on the stream timeline (no real Whisper weights
// exist on these machines), and the analysis queue builds the report with the real deterministic
// analyzer (fluency, quality, vocabulary) plus one scripted language error so highlights render.
import { after } from "node:test";
import { startTestGateway, testConfig, type TestGateway } from "../helpers/gateway.js";
import { createSttService } from "../../src/stt/service.js";
import { FakeTranscriber, timelineResponder, type ScriptWord } from "../../src/stt/fake.js";
import { createAudioIngest } from "../../src/audio/ingest.js";
import { deterministicReport } from "../../src/analysis/analyzer.js";
import type { AnalysisQueue, EnqueueRequest } from "../../src/jobs/types.js";
import type { Report } from "../../src/protocol/report.js";
import type { GatewayDeps } from "../../src/transport/server.js";
import { silentLogger } from "../../src/util/log.js";
import { ConfigSchema } from "../../src/config/index.js";

export const JFK_TEXT = "And so my fellow Americans ask not what your country can do for you ask what you can do for your country";

/** The JFK sentence spread over 0.4-10.6 s of stream time. */
export function jfkScript(): ScriptWord[] {
  const words = JFK_TEXT.split(" ");
  const span = (10.6 - 0.4) / words.length;
  return words.map((word, i) => ({ word, start: 0.4 + i * span, end: 0.4 + i * span + span * 0.8, probability: 0.9 }));
}

export interface ClientTestServer extends TestGateway {
  /** Seconds of 16 kHz mono audio the server decoded, per session id order of arrival. */
  receivedSeconds(): number[];
  jobs: EnqueueRequest[];
}

export async function startClientTestServer(opts: { env?: Record<string, string>; capacityStreams?: number; deps?: Partial<GatewayDeps>; reportDelayMs?: number } = {}): Promise<ClientTestServer> {
  const script = jfkScript();
  const received: { samples: number }[] = [];
  const jobs: EnqueueRequest[] = [];
  const subscribers = new Map<string, (jobId: string, report: Report) => void>();
  const timers = new Set<NodeJS.Timeout>();
  const analysis: AnalysisQueue = {
    async enqueue(req) {
      jobs.push(req);
      const jobId = `job-${jobs.length}`;
      const t = setTimeout(() => {
        timers.delete(t);
        const idx = jobs.indexOf(req);
        const seconds = (received[idx]?.samples ?? 0) / 16000;
        const words = script.filter((w) => w.end <= seconds).map((w) => ({ word: w.word, start: w.start, end: w.end, confidence: w.probability ?? 0.9 }));
        const report = deterministicReport({ sessionId: req.sessionId, language: "en", words }, { analysis: { ...ConfigSchema.parse({}).analysis, maxAttempts: 1, retryBaseMs: 0, retryMaxMs: 0, maxDeferMs: 0 } }, "ok", "scripted-test-analysis");
        const at = report.transcript.text.indexOf("ask not");
        if (at >= 0) {
          report.errors.push({ start: at, end: at + 7, original: "ask not", correction: "do not ask", type: "word_order", explanation: "Scripted by the test: a modern speaker would put the auxiliary first.", severity: "minor" });
        }
        report.level = { cefr: "B2", evidence: ["scripted level for the client test"] };
        report.recommendations = [{ title: "Negative imperatives", reason: "Practise do not + verb.", focus: "word_order", resources: [{ lesson_id: "neg-imp", title: "Negative imperatives", url: "https://example.org/lessons/neg-imp", level: "B1" }] }];
        subscribers.get(req.sessionId)?.(jobId, report);
      }, opts.reportDelayMs ?? 50);
      timers.add(t);
      return jobId;
    },
    subscribe(sessionId, onReport) {
      subscribers.set(sessionId, onReport);
      return () => subscribers.delete(sessionId);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
    },
  };
  const baseEnv = { PARLANCE_STT_ENGINE: "fake", ...opts.env };
  const config = testConfig(baseEnv);
  const stt = await createSttService(config, silentLogger, {
    transcriber: new FakeTranscriber({ respond: timelineResponder(script), delayMs: 10 }),
    capacityStreams: opts.capacityStreams ?? 4,
  });
  after(() => stt.close?.());
  const gw = await startTestGateway(baseEnv, {
    stt,
    audio: (cfg) => {
      const counter = { samples: 0 };
      received.push(counter);
      const ingest = createAudioIngest(cfg);
      return {
        ready: ingest.ready,
        close: () => ingest.close?.(),
        decode(frame: Buffer) {
          const out = ingest.decode(frame);
          counter.samples += out.length;
          return out;
        },
      };
    },
    analysis,
    ...opts.deps,
  });
  after(() => analysis.close());
  return Object.assign(gw, { receivedSeconds: () => received.map((r) => r.samples / 16000), jobs });
}
