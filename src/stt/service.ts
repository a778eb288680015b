// The STT service: one shared Transcriber per process, one decode scheduler, admission control,
// and a SpeechStream per session.
import { availableParallelism } from "node:os";
import { modelsDir, type Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { EmbeddedWhisperTranscriber } from "./embedded.js";
import { RemoteTranscriber } from "./remote.js";
import { FakeTranscriber } from "./fake.js";
import { resolveModelPath } from "./models.js";
import { DecodeScheduler } from "./scheduler.js";
import { SttStream, DEFAULT_POLICY, type StreamPolicy } from "./stream.js";
import { DEFAULT_GUARDS, type GuardOptions } from "./policy.js";
import type { Admission, SpeechStream, SttService, SttStats, Transcriber } from "./types.js";

export interface SttServiceOptions {
  /** Use this transcriber instead of the one config.stt.engine names (tests, embedding). */
  transcriber?: Transcriber;
  guards?: Partial<GuardOptions>;
  /** Skip the start-up capacity measurement and use this many streams. */
  capacityStreams?: number;
}

/** Average window decoded per update, for the capacity estimate (s). */
const CALIBRATION_SECONDS = 5;

export class LocalSttService implements SttService {
  readonly engineName: string;
  readonly updateMs: number;
  readonly scheduler: DecodeScheduler;
  readonly capacityStreams: number;
  private readonly streams = new Set<SttStream>();
  private skippedPartialsDone = 0;
  private closed = false;
  private readonly demandListeners: ((threads: number) => void)[] = [];
  private lastDemand = -1;

  constructor(
    readonly transcriber: Transcriber,
    private readonly policy: StreamPolicy,
    budget: number,
    capacity: number,
    private readonly logger: Logger,
  ) {
    this.engineName = transcriber.name;
    this.updateMs = policy.updateMs;
    this.scheduler = new DecodeScheduler(transcriber, budget);
    this.capacityStreams = capacity;
  }

  admit(): Admission {
    if (this.closed) return { ok: false, retryAfterMs: 30000, reason: "shutting down" };
    if (this.streams.size >= this.capacityStreams) {
      return { ok: false, retryAfterMs: 5000, reason: `${this.streams.size} streams already use the transcription capacity (${this.capacityStreams})` };
    }
    // Projected load: if the streams we have are already behind, one more makes it worse.
    const lagging = [...this.streams].filter((s) => s.lagMs > 3 * this.updateMs).length;
    if (lagging > 0 && lagging >= this.streams.size / 2) {
      return { ok: false, retryAfterMs: 3000, reason: "transcription is behind real time" };
    }
    return { ok: true };
  }

  openStream(opts: { sessionId: string; language: string }): SpeechStream {
    if (this.closed) throw new Error("STT service is closed");
    const s: SttStream = new SttStream({
      sessionId: opts.sessionId,
      language: opts.language,
      policy: this.policy,
      scheduler: this.scheduler,
      logger: this.logger,
      onFinish: (done) => {
        this.streams.delete(done);
        this.skippedPartialsDone += done.counters.skippedPartials;
        this.announceDemand();
      },
    });
    this.streams.add(s);
    this.announceDemand();
    return s;
  }

  onThreadDemand(listener: (threads: number) => void): void {
    this.demandListeners.push(listener);
    listener(this.threadDemand());
  }

  // Per open stream, not per running decode: decodes start and stop several times a second,
  // and an LLM that grows back into the gap between two decodes is in the way of the next one.
  private threadDemand(): number {
    return this.transcriber.capabilities.local ? Math.min(this.scheduler.budget, this.streams.size) : 0;
  }

  private announceDemand() {
    const n = this.threadDemand();
    if (n === this.lastDemand) return;
    this.lastDemand = n;
    for (const l of this.demandListeners) l(n);
  }

  stats(): SttStats {
    let skipped = this.skippedPartialsDone;
    for (const s of this.streams) skipped += s.counters.skippedPartials;
    return {
      activeStreams: this.streams.size,
      capacityStreams: this.capacityStreams,
      queuedDecodes: this.scheduler.queued,
      decodes: this.scheduler.decodes,
      skippedPartials: skipped,
      decodeMsLast: Math.round(this.scheduler.decodeMsLast),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams]) s.close();
    this.scheduler.close();
    await this.transcriber.close();
  }
}

export function policyFromConfig(config: Config, guards?: Partial<GuardOptions>): StreamPolicy {
  const s = config.stt;
  return {
    ...DEFAULT_POLICY,
    // The schema refuses values below these settings' floors; none is bent into range here.
    updateMs: s.updateMs,
    firstUpdateMs: s.firstUpdateMs,
    maxWindowMs: s.maxWindowMs,
    utteranceEndMs: s.utteranceEndMs,
    promptTailChars: s.promptTailChars,
    verbatimPrompt: s.verbatimPrompt,
    maxConsecutiveFailures: s.maxConsecutiveFailures,
    agreement: s.agreement,
    guards: { ...DEFAULT_GUARDS, logprobThreshold: s.logprobThreshold ?? -Infinity, noSpeechThreshold: s.noSpeechThreshold, ...guards },
  };
}

/**
 * Builds the service config.stt describes: loads the model once (embedded), or points at the
 * remote server, or the scripted fake. With stt.maxStreams = 0 the capacity is measured here from
 * decodes of a typical window at one thread.
 */
export async function createSttService(config: Config, logger: Logger, opts: SttServiceOptions = {}): Promise<SttService & LocalSttService> {
  const s = config.stt;
  const cores = availableParallelism();
  const threads = s.threads > 0 ? s.threads : Math.max(1, cores);
  const policy = policyFromConfig(config, opts.guards);
  let transcriber = opts.transcriber;
  if (!transcriber) {
    if (s.engine === "embedded") {
      const modelPath = resolveModelPath(s.model, modelsDir(config));
      transcriber = await EmbeddedWhisperTranscriber.create({ modelPath, threads, audioCtx: s.audioCtx, padSec: s.padMs / 1000, label: s.model.replace(/^.*\//, "") });
    } else if (s.engine === "remote") {
      if (!s.url) throw new Error("stt.engine=remote needs stt.url (PARLANCE_STT_URL)");
      transcriber = new RemoteTranscriber({ url: s.url, apiKey: s.apiKey, model: s.remoteModel, maxConcurrency: s.maxStreams > 0 ? s.maxStreams : 4 });
    } else {
      transcriber = new FakeTranscriber();
    }
  }
  const budget = transcriber.capabilities.local ? threads : transcriber.capabilities.maxConcurrency;
  let capacity = opts.capacityStreams ?? (s.maxStreams > 0 ? s.maxStreams : 0);
  if (capacity === 0) {
    if (transcriber.capabilities.local && transcriber.name !== "fake") {
      capacity = await measureCapacity(transcriber, budget, policy.updateMs, s.audioCtx === "trim");
    } else capacity = transcriber.name === "fake" ? 64 : 16;
  }
  logger.info({ engine: transcriber.name, threads: budget, capacity, updateMs: policy.updateMs }, "speech-to-text ready");
  return new LocalSttService(transcriber, policy, budget, capacity, logger);
}

/** Streams the thread budget sustains: each needs one decode of a ~5 s window per update. */
async function measureCapacity(t: Transcriber, budget: number, updateMs: number, trimmed: boolean): Promise<number> {
  const audio = new Float32Array(CALIBRATION_SECONDS * 16000);
  for (let i = 0; i < audio.length; i++) audio[i] = 0.01 * Math.sin(i / 7); // quiet tone: a full encoder pass
  // The first decode is cold (buffers allocated), and on a shared host any one decode can be
  // slowed by other processes: the fastest of three is the engine's own cost.
  let fastest = Infinity;
  for (let i = 0; i < 3; i++) fastest = Math.min(fastest, (await t.transcribe({ audio, language: "en", threads: 1 })).decodeMs);
  const perUpdate = Math.max(1, fastest);
  // 70 % utilisation target leaves room for bursts; a full 30 s window is far costlier.
  const n = Math.floor((budget * updateMs * 0.7) / perUpdate);
  return Math.max(1, trimmed ? n : Math.min(n, budget));
}
