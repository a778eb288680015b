// The STT service: one shared engine per process (from the registry, engines.ts), one decode
// scheduler for windowed engines, admission control, and a SpeechStream per session.
import { ConfigSchema, type Config } from "../config/index.js";
import { SAMPLE_RATE } from "../domain/audio.js";
import type { Logger } from "../util/log.js";
import { sttEngine, type StreamingEngine, type SttEngine } from "./engines.js";
import { noSttMetrics, type SttMetrics } from "./metrics.js";
import type { GuardOptions } from "./policy.js";
import { DecodeScheduler } from "./scheduler.js";
import { policyFromConfig, type StreamPolicy } from "./stream-policy.js";
import { SttStream } from "./stream.js";
import type { Admission, SpeechStream, SttService, SttStats, Transcriber } from "./types.js";

export { policyFromConfig };

export interface SttServiceOptions {
  /** Use this transcriber instead of the engine config.stt.engine names (tests, embedding). */
  transcriber?: Transcriber;
  guards?: Partial<GuardOptions>;
  /** Skip the start-up capacity measurement and use this many streams. */
  capacityStreams?: number;
  /** Where the streams and the scheduler report decodes, skipped partials, loop cuts, guard drops. */
  metrics?: SttMetrics;
}

type StreamOpenOptions = Parameters<StreamingEngine["openStream"]>[0];

/** When admit() refuses and what it tells the client (config.stt). */
export type AdmissionLimits = Pick<Config["stt"], "laggingUpdates" | "fullRetryAfterMs" | "behindRetryAfterMs" | "closingRetryAfterMs">;

export function admissionLimits(config: Pick<Config, "stt">): AdmissionLimits {
  const { laggingUpdates, fullRetryAfterMs, behindRetryAfterMs, closingRetryAfterMs } = config.stt;
  return { laggingUpdates, fullRetryAfterMs, behindRetryAfterMs, closingRetryAfterMs };
}

/** Average window decoded per update, for the capacity estimate (s). */
const CALIBRATION_SECONDS = 5;

export class LocalSttService implements SttService {
  readonly engineName: string;
  readonly updateMs: number;
  /** Windowed engines only: the decode slots every stream shares. */
  readonly scheduler: DecodeScheduler | null;
  private readonly streams = new Set<SpeechStream>();
  private skippedPartials = 0;
  private closed = false;
  private readonly demandListeners: ((threads: number) => void)[] = [];
  private lastDemand = -1;
  private readonly metrics: SttMetrics;
  /** A new stream: over the shared scheduler (windowed engines), or the engine's own (streaming-native). */
  private readonly open: (opts: StreamOpenOptions) => SpeechStream;

  constructor(
    private readonly engine: SttEngine,
    private readonly policy: StreamPolicy,
    readonly capacityStreams: number,
    private readonly logger: Logger,
    metrics: SttMetrics = noSttMetrics,
    private readonly admission: AdmissionLimits = admissionLimits(ConfigSchema.parse({})),
  ) {
    this.engineName = engine.kind === "windowed" ? engine.transcriber.name : engine.engine.name;
    this.updateMs = policy.updateMs;
    if (engine.kind === "windowed") {
      const scheduler = new DecodeScheduler(engine.transcriber, engine.transcriber.capabilities.maxConcurrency);
      this.scheduler = scheduler;
      this.open = (o) => new SttStream({ ...o, scheduler });
    } else {
      const native = engine.engine;
      this.scheduler = null;
      this.open = (o) => native.openStream(o);
    }
    this.metrics = {
      emit: (e) => {
        if (e.type === "stt.partials_skipped") this.skippedPartials += e.count;
        metrics.emit(e);
      },
    };
  }

  admit(): Admission {
    const a = this.admission;
    if (this.closed) return { ok: false, retryAfterMs: a.closingRetryAfterMs, reason: "shutting down" };
    if (this.streams.size >= this.capacityStreams) {
      return { ok: false, retryAfterMs: a.fullRetryAfterMs, reason: `${this.streams.size} streams already use the transcription capacity (${this.capacityStreams})` };
    }
    // Projected load: if the streams we have are already behind, one more makes it worse.
    const lagging = [...this.streams].filter((s) => s.lagMs > a.laggingUpdates * this.updateMs).length;
    if (lagging > 0 && lagging >= this.streams.size / 2) {
      return { ok: false, retryAfterMs: a.behindRetryAfterMs, reason: "transcription is behind real time" };
    }
    return { ok: true };
  }

  openStream(opts: { sessionId: string; language: string }): SpeechStream {
    if (this.closed) throw new Error("STT service is closed");
    let s: SpeechStream | undefined;
    const onFinish = () => {
      if (s && this.streams.delete(s)) this.announceDemand();
    };
    s = this.open({ ...opts, policy: this.policy, logger: this.logger, metrics: this.metrics, onFinish });
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
    const local = this.engine.kind === "windowed" && this.engine.transcriber.capabilities.local;
    return local && this.scheduler ? Math.min(this.scheduler.budget, this.streams.size) : 0;
  }

  private announceDemand() {
    const n = this.threadDemand();
    if (n === this.lastDemand) return;
    this.lastDemand = n;
    for (const l of this.demandListeners) l(n);
  }

  stats(): SttStats {
    return {
      activeStreams: this.streams.size,
      capacityStreams: this.capacityStreams,
      queuedDecodes: this.scheduler?.queued ?? 0,
      decodes: this.scheduler?.decodes ?? 0,
      skippedPartials: this.skippedPartials,
      decodeMsLast: Math.round(this.scheduler?.decodeMsLast ?? 0),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams]) s.close();
    this.scheduler?.close();
    await (this.engine.kind === "windowed" ? this.engine.transcriber.close() : this.engine.engine.close());
  }
}

/**
 * Builds the service config.stt describes: the registry's engine (engines.ts) or the given
 * transcriber. With stt.maxStreams = 0 and an engine that does not say its capacity, the capacity
 * is measured here from decodes of a typical window at one thread.
 */
export async function createSttService(config: Config, logger: Logger, opts: SttServiceOptions = {}): Promise<LocalSttService> {
  const s = config.stt;
  const policy = policyFromConfig(config, opts.guards);
  const engine: SttEngine = opts.transcriber ? { kind: "windowed", transcriber: opts.transcriber } : await sttEngine(s.engine).create(config, logger);
  const capacity = opts.capacityStreams ?? (s.maxStreams > 0 ? s.maxStreams : await defaultCapacity(engine, policy.updateMs));
  const svc = new LocalSttService(engine, policy, capacity, logger, opts.metrics, admissionLimits(config));
  logger.info({ engine: svc.engineName, threads: svc.scheduler?.budget ?? 0, capacity, updateMs: policy.updateMs }, "speech-to-text ready");
  return svc;
}

async function defaultCapacity(engine: SttEngine, updateMs: number): Promise<number> {
  if (engine.kind === "streaming") return engine.engine.defaultStreams;
  const caps = engine.transcriber.capabilities;
  return caps.defaultStreams ?? measureCapacity(engine.transcriber, caps.maxConcurrency, updateMs, caps.trimmedEncoder);
}

/** Streams the thread budget sustains: each needs one decode of a ~5 s window per update. */
async function measureCapacity(t: Transcriber, budget: number, updateMs: number, trimmed: boolean): Promise<number> {
  const audio = new Float32Array(CALIBRATION_SECONDS * SAMPLE_RATE);
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
