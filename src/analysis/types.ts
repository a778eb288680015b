// The analysis seam: committed words in, a speaking-feedback report out.
import type { Word } from "../protocol/messages.js";
import type { Report } from "../protocol/report.js";

export interface AnalysisInput {
  sessionId: string;
  language: string;
  /** Committed words, in order, with timings (s) and confidences from the transcriber. */
  words: Word[];
  /** Learner level/locale from the verified token claims, when present. */
  learner?: { level?: string; locale?: string };
  task?: string;
  signal?: AbortSignal;
  /**
   * Called once, before the LLM runs, with the parts that need no LLM (transcript, fluency,
   * vocabulary; status "pending"), so the learner sees them at once. Not called when no LLM runs.
   */
  onProvisional?: (report: Report) => void;
}

export interface Analyzer {
  /** e.g. "embedded:qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" or "openai:llama-3-8b-instruct" */
  readonly modelName: string;
  /**
   * Resolves with a complete report (the LLM part may have failed validation: llm_status
   * "failed", deterministic parts still filled). Rejects with LlmUnavailableError when the LLM
   * could not be reached at all, so the job is retried later; never loses the transcript.
   */
  analyze(input: AnalysisInput): Promise<Report>;
  /**
   * Core policy: tell the analyzer how many inference threads live transcription uses now; an
   * embedded LLM then keeps to the cores left (at least 1). Remote providers ignore it.
   */
  setSttThreads?(threads: number): void;
  /** Loads the model and evaluates the shared prompt prefix now, so the first report is fast too. Never rejects. */
  warmup?(): Promise<void>;
  close(): Promise<void>;
}

export class LlmUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LlmUnavailableError";
  }
}
