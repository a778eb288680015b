// The STT engine seam: a registry {name -> create(config, log)}. config.stt.engine names the
// entry; the entries live next to their implementations (embedded.ts, remote.ts, fake.ts), and
// adding one is a new file and one line below (docs/architecture.md, "Adding an engine").
// An engine is either windowed (a Transcriber: one window of audio in, timed segments out; the
// stream and the shared scheduler do the streaming) or streaming-native (it implements the
// speech stream itself, e.g. a Deepgram-style socket per session).
import type { Config } from "../config/schema.js";
import type { Logger } from "../util/log.js";
import { embeddedEngine } from "./embedded.js";
import { fakeEngine } from "./fake.js";
import type { SttMetrics } from "./metrics.js";
import { remoteEngine } from "./remote.js";
import type { StreamPolicy } from "./stream-policy.js";
import type { SpeechStream, Transcriber } from "./types.js";

export interface StreamingEngine {
  readonly name: string;
  /** Streams it serves at once when stt.maxStreams is 0. */
  readonly defaultStreams: number;
  /** One session's stream; call `onFinish` once when it has ended or was closed. */
  openStream(opts: { sessionId: string; language: string; policy: StreamPolicy; logger: Logger; metrics: SttMetrics; onFinish: () => void }): SpeechStream;
  close(): Promise<void>;
}

export type SttEngine = { kind: "windowed"; transcriber: Transcriber } | { kind: "streaming"; engine: StreamingEngine };

export interface SttEngineEntry {
  create(config: Config, log: Logger): Promise<SttEngine>;
  /** The Whisper model file setting it loads on this machine (`models list`, first-run pull); absent = none. */
  localModel?(config: Config): string;
}

export class UnknownEngineError extends Error {
  constructor(name: string, known: string[]) {
    super(`stt.engine "${name}" is not a registered engine (known: ${known.join(", ")})`);
    this.name = "UnknownEngineError";
  }
}

const engines = new Map<string, SttEngineEntry>([
  ["embedded", embeddedEngine],
  ["remote", remoteEngine],
  ["fake", fakeEngine],
]);

/** Adds (or replaces) an engine under `name`, for config.stt.engine to pick. */
export function registerSttEngine(name: string, entry: SttEngineEntry): void {
  engines.set(name, entry);
}

export function sttEngine(name: string): SttEngineEntry {
  const e = engines.get(name);
  if (!e) throw new UnknownEngineError(name, [...engines.keys()]);
  return e;
}

export function sttEngineNames(): string[] {
  return [...engines.keys()];
}
