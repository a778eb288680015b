// Report assembly: deterministic metrics and quality gate first, the LLM chain only when the
// transcript can carry feedback, then post-checks, grounded resources and zod validation.
import { availableParallelism } from "node:os";
import type { BaseRetriever } from "@langchain/core/retrievers";
import type { Document } from "@langchain/core/documents";
import type { Config } from "../config/index.js";
import { Report, REPORT_SCHEMA_VERSION, type LlmStatus, type Recommendation, type Resource } from "../protocol/report.js";
import type { Logger } from "../util/log.js";
import { promptPrefix, runFeedbackChain, type PromptVars, type PromptVersion } from "./chain.js";
import type { LlmError, LlmFeedback } from "./llm-schema.js";
import { ChatNodeLlamaCpp } from "./models/embedded.js";
import { disfluencies, fluencyMetrics, lexicalTokens } from "./metrics.js";
import { createLlmBackend, type LlmBackend } from "./models/factory.js";
import { editGain, perTokenGain, repairCopiedSpans } from "./passes.js";
import { likelihoodEdits, type LmEditResult } from "./lm-edits.js";
import { LIKELIHOOD_ERRORS, LIKELIHOOD_FALLBACK } from "./prompt-versions.js";
import { ALL_GATES, isConfused, postCheckErrors, sameWords, type Gate, type PostCheckContext } from "./postcheck.js";
import { assessQuality, type QualityResult } from "./quality.js";
import { joinWords } from "./text.js";
import type { AnalysisInput, Analyzer } from "./types.js";
import { vocabularyProfile } from "./vocabulary.js";

export interface AnalyzerDeps {
  logger: Logger;
  retriever?: BaseRetriever;
  /** For tests: a ready backend instead of the one config.llm describes. */
  backend?: LlmBackend;
  /** Prompt version (default analysis.prompt); eval:feedback compares versions. */
  promptVersion?: PromptVersion;
  /** Post-check gates to apply (default all); eval:feedback measures each. */
  gates?: ReadonlySet<Gate>;
  /** The span-repair pass (embedded only, default on): passes.ts. */
  spanFix?: boolean;
  /** Stop answers early where the prompt version allows (answer-cut.ts; default on); eval:feedback --no-cut reads them whole. */
  answerCut?: boolean;
  /**
   * The likelihood check (embedded only; default VERIFY_MARGIN): an edit is kept only when the
   * words with the correction are at most this much less likely (natural log, per scored token) than the
   * original's. `null` measures the gains without dropping anything (eval:feedback --verify measure).
   */
  verifyMargin?: number | null;
}

/**
 * 0: the corrected words must be at least as likely per token as the learner's (the issue's
 * verification pass; passes.ts perTokenGain). On JFLEG (40 sentences, 25 corrected, 8 spoken) it
 * removed the false flags and spoken flags left after the gates and kept the true positive
 * (docs/bench-analysis.md).
 */
export const VERIFY_MARGIN = 0;


/** What eval:feedback needs besides the report: the raw LLM answer and what the gates saw. */
export interface AnalysisDetail {
  report: Report;
  feedback: LlmFeedback | null;
  check: PostCheckContext | null;
  /** Lesson ids the retriever offered (the only ones a report may cite). */
  offeredLessons: string[];
  /** The model's errors before the span-repair pass (feedback.errors are after it). */
  beforeFix?: LlmError[];
  spanFix?: { asked: number; changed: number; tried: { original: string; best: string | null; gain: number | null }[] };
  /** Log-likelihood gain of each shown grammar edit (corrected minus original words, in context). */
  verify?: { edit: string; delta: number; perToken: number; kept: boolean; repaired: boolean; original: { logProb: number; tokens: number }; corrected: { logProb: number; tokens: number } }[];
  /** Likelihood versions (feedback-v5): the candidate edits, how many passed the screen, and every verified one. */
  lmEdits?: Omit<LmEditResult, "errors">;
}

interface Base {
  report: Report;
  quality: QualityResult;
  transcript: ReturnType<typeof joinWords>;
}

/** Everything that needs no LLM. `llmStatus` "pending" gives the report the job runner stores while it retries. */
export function deterministicReport(input: AnalysisInput, config: Pick<Config, "analysis">, llmStatus: LlmStatus, modelName: string): Report {
  return buildBase(input, config, llmStatus, modelName).report;
}

function buildBase(input: AnalysisInput, config: Pick<Config, "analysis">, llmStatus: LlmStatus, modelName: string, promptVersion: string = config.analysis.prompt): Base {
  const words = input.words;
  const transcript = joinWords(words);
  const quality = assessQuality(words, { confidenceThreshold: config.analysis.confidenceThreshold, minWords: config.analysis.minWords });
  const fluency = fluencyMetrics(words);
  const vocabulary = vocabularyProfile(lexicalTokens(words));
  const unusable = quality.quality === "unusable";
  const report: Report = {
    session_id: input.sessionId,
    created_at: new Date().toISOString(),
    status: llmStatus === "pending" ? "pending" : "complete",
    llm_status: llmStatus,
    language: input.language,
    transcript: {
      text: transcript.text,
      words: words.map((w, i) => ({ word: w.word.trim(), start: w.start, end: w.end, confidence: w.confidence, uncertain: quality.uncertain[i] ?? false })),
    },
    quality: quality.quality,
    quality_detail: quality.detail,
    errors: [],
    strengths: unusable ? [] : deterministicStrengths(fluency),
    fluency,
    vocabulary,
    level: { cefr: null, evidence: [unusable ? "Not estimated: the recording could not be assessed." : "Not estimated: no language-model assessment is available for this answer."] },
    recommendations: unusable ? [] : deterministicRecommendations(fluency),
    message: unusable
      ? `We could not give language feedback: ${quality.detail.reasons.join("; ")}. ${quality.detail.advice.join(" ")}`
      : llmStatus === "pending"
        ? "Your transcript is saved; the detailed feedback will follow shortly."
        : llmStatus === "failed"
          ? "Detailed grammar feedback is not available for this answer; the fluency and vocabulary figures are."
          : quality.quality === "partly_unreliable"
            ? `Some words were not recognised clearly and are not judged as grammar. ${quality.detail.advice.join(" ")}`
            : null,
    versions: { model: modelName, prompt: promptVersion, schema: REPORT_SCHEMA_VERSION },
  };
  return { report, quality, transcript };
}

function deterministicStrengths(f: Report["fluency"]): string[] {
  const out: string[] = [];
  if (f.words_per_minute >= 100 && f.words_per_minute <= 170) out.push(`A natural speaking rate (${Math.round(f.words_per_minute)} words per minute).`);
  if (f.word_count >= 20 && f.fillers.per_minute < 3) out.push("Very few filler words.");
  if (f.lexical_diversity.mtld !== null && f.lexical_diversity.mtld >= 60) out.push("Varied vocabulary for the length of the answer.");
  return out.slice(0, 3);
}

function deterministicRecommendations(f: Report["fluency"]): Recommendation[] {
  const out: Recommendation[] = [];
  if (f.fillers.per_minute >= 6) out.push({ title: "Use fewer filler words", reason: `You used ${f.fillers.count} fillers (${f.fillers.per_minute} per minute). A short silent pause sounds more confident.`, focus: "fluency", resources: [] });
  if (f.pauses.over_1s >= 2) out.push({ title: "Plan your next idea while you speak", reason: `${f.pauses.over_1s} pauses were longer than one second. Useful linking phrases give you time to think.`, focus: "fluency", resources: [] });
  if (f.word_count >= 10 && f.words_per_minute > 0 && f.words_per_minute < 90) out.push({ title: "Build speaking speed", reason: `Your rate was ${Math.round(f.words_per_minute)} words per minute; retelling the same story several times makes it smoother.`, focus: "fluency", resources: [] });
  if (f.repetitions + f.self_corrections >= 3) out.push({ title: "Rehearse key sentences", reason: `There were ${f.repetitions} repetitions and ${f.self_corrections} self-corrections.`, focus: "fluency", resources: [] });
  return out.slice(0, 3);
}

function toResource(d: Document): Resource {
  const m = d.metadata as { lesson_id: string; title?: string; url?: string | null; level?: string | null };
  return { lesson_id: String(m.lesson_id), title: String(m.title ?? m.lesson_id), url: m.url ?? null, level: m.level ?? null };
}

/**
 * Core policy (docs/analysis.md): live transcription has priority. The LLM gets the cores STT is
 * not using (at least 1), analyses run one at a time (config analysis.concurrency), and the
 * session layer reports STT's live thread use through setSttThreads().
 */
export class LlmAnalyzer implements Analyzer {
  readonly modelName: string;
  readonly promptVersion: PromptVersion;
  private sttThreads = 0;
  private warming: Promise<void> | undefined;
  private readonly warmupAbort = new AbortController();
  private readonly waiting: (() => void)[] = [];
  private readonly cores = availableParallelism();

  constructor(
    private readonly config: Config,
    private readonly deps: AnalyzerDeps,
    private readonly backend: LlmBackend,
  ) {
    this.modelName = backend.name;
    const wanted = deps.promptVersion ?? config.analysis.prompt;
    // A remote API gives no log-probabilities: the model writes its errors there.
    this.promptVersion = LIKELIHOOD_ERRORS.has(wanted) && !backend.capabilities.logProbs ? LIKELIHOOD_FALLBACK : wanted;
    if (this.promptVersion !== wanted) deps.logger.info({ wanted, using: this.promptVersion, backend: backend.name }, "this LLM backend cannot score text; its errors come from the model's answer");
    this.applyThreadBudget();
  }

  /**
   * Loads the model and evaluates the prompt prefix (system prompt, few-shot pairs) once, so
   * reports pay only for their own transcript. Never throws: a missing model is logged and the
   * first report tries again.
   */
  warmup(): Promise<void> {
    this.warming ??= (async () => {
      const t0 = Date.now();
      try {
        const r = await this.backend.prime(await promptPrefix(this.promptVersion), this.warmupAbort.signal);
        if (r.sequences) this.deps.logger.info({ ms: Date.now() - t0, tokens: r.tokens, sequences: r.sequences }, "LLM prompt prefix evaluated");
      } catch (err) {
        if (!this.warmupAbort.signal.aborted) this.deps.logger.warn({ err: (err as Error).message }, "LLM warm-up failed; the first report loads the model");
      }
    })();
    return this.warming;
  }

  /** Tell the analyzer how many inference threads live transcription is using now. */
  setSttThreads(threads: number): void {
    this.sttThreads = Math.max(0, threads);
    this.applyThreadBudget();
    if (!this.sttNeedsEveryCore) for (const wake of this.waiting.splice(0)) wake();
  }

  private get sttNeedsEveryCore(): boolean {
    return this.sttThreads >= this.cores;
  }

  /**
   * An embedded LLM on cores that live transcription needs makes the streams fall behind (bench:
   * lag up to 10 s even at 1 LLM thread beside 2 streams on 2 cores). Analysis can wait and
   * transcription cannot, so an analysis starts once a core is free, or after analysis.maxDeferMs.
   */
  async waitForFreeCore(sessionId: string, signal?: AbortSignal): Promise<void> {
    const maxMs = this.config.analysis.maxDeferMs;
    if (!this.backend.capabilities.sharesCores || maxMs <= 0 || !this.sttNeedsEveryCore) return;
    this.deps.logger.info({ sessionId, stt_threads: this.sttThreads, max_ms: maxMs }, "analysis waits for a core that live transcription does not need");
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        const i = this.waiting.indexOf(done);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      timer.unref(); // a waiting analysis must not hold a stopping process open
      signal?.addEventListener("abort", done, { once: true });
      this.waiting.push(done);
    });
    this.deps.logger.info({ sessionId, waited_ms: Date.now() - started, stt_threads: this.sttThreads }, "analysis starts");
  }

  /** Threads the LLM may use now: the cores STT leaves free, never below 1. */
  get llmThreadBudget(): number {
    const wanted = this.config.llm.threads || this.cores;
    return Math.max(1, Math.min(wanted, this.cores - this.sttThreads));
  }

  private applyThreadBudget() {
    this.backend.setThreadBudget(this.llmThreadBudget);
  }

  private async lessons(query: string): Promise<Document[]> {
    if (!this.deps.retriever || !query.trim()) return [];
    try {
      return (await this.deps.retriever.invoke(query)).filter((d) => typeof d.metadata?.lesson_id === "string").slice(0, 8);
    } catch (e) {
      this.deps.logger.warn({ err: e }, "curriculum retrieval failed; report without lessons");
      return [];
    }
  }

  async analyze(input: AnalysisInput): Promise<Report> {
    return (await this.analyzeDetailed(input)).report;
  }

  async analyzeDetailed(input: AnalysisInput): Promise<AnalysisDetail> {
    const base = buildBase(input, this.config, "skipped", this.modelName, this.promptVersion);
    const { report, quality, transcript } = base;
    if (quality.quality === "unusable") return { report: Report.parse(report), feedback: null, check: null, offeredLessons: [] };
    // The learner sees transcript, fluency and vocabulary now; the LLM part follows.
    if (input.onProvisional) {
      try {
        input.onProvisional(Report.parse({ ...report, status: "pending", llm_status: "pending", message: "Your transcript is saved; the detailed feedback will follow shortly." }));
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, "provisional report not delivered");
      }
    }

    const v1 = this.promptVersion === "feedback-v1";
    // v1 lists lessons in the prompt; v2 looks them up after the LLM, from the errors it kept.
    const docs = v1 ? await this.lessons([input.task ?? "", transcript.text].join("\n").slice(0, 2000)) : [];
    const byId = new Map(docs.map((d) => [String(d.metadata.lesson_id), d]));
    const vars: PromptVars = {
      task: input.task ?? "(free speaking)",
      learner_level: input.learner?.level ?? "unknown",
      numbered: input.words.map((w, i) => `${i}:${quality.uncertain[i] ? `??${w.word.trim()}??` : w.word.trim()}`).join(" "),
      // v2 shows the words once, with uncertain ones marked; v1 shows them numbered and plain here.
      text: this.promptVersion === "feedback-v1" ? transcript.text : input.words.map((w, i) => (quality.uncertain[i] ? `??${w.word.trim()}??` : w.word.trim())).join(" "),
      fluency: JSON.stringify({
        words_per_minute: report.fluency.words_per_minute,
        fillers: report.fluency.fillers.count,
        pauses_over_1s: report.fluency.pauses.over_1s,
        repetitions: report.fluency.repetitions,
        self_corrections: report.fluency.self_corrections,
      }),
      lessons: docs.length ? docs.map((d) => `${d.metadata.lesson_id}: ${d.metadata.title ?? ""} [${d.metadata.level ?? "any"}] ${(d.metadata.tags ?? []).join(", ")}`).join("\n") : "(none)",
    };

    await this.waitForFreeCore(input.sessionId, input.signal);
    const check: PostCheckContext = {
      words: report.transcript.words,
      transcript: base.transcript,
      uncertain: base.quality.uncertain,
      disfluent: disfluencies(input.words).indices,
      gates: this.deps.gates ?? ALL_GATES,
    };
    const words = input.words.map((w) => w.word.trim());
    const gates = this.deps.gates ?? ALL_GATES;
    // Only a backend that scores text (the embedded model) runs the likelihood passes.
    const chat = this.backend.capabilities.logProbs ? await this.backend.chatModel() : null;
    const runtime = chat instanceof ChatNodeLlamaCpp ? chat.runtime : null;
    const score = runtime ? (context: string, text: string) => runtime.logProb(context, text) : null;
    const byLikelihood = LIKELIHOOD_ERRORS.has(this.promptVersion) && !!runtime;
    // The likelihood search needs nothing from the model's answer: it runs on the side sequence
    // while the model writes the level and the strength.
    const skip = (i: number) => !!base.quality.uncertain[i] || !!check.disfluent?.has(i);
    const search = runtime && byLikelihood ? likelihoodEdits(words, skip, runtime, undefined, input.signal) : null;
    // Attached now: a search that fails (an abort) while the model still writes is not an
    // unhandled rejection; `await search` below still throws its error.
    const settled = search?.then(
      () => undefined,
      () => undefined,
    );
    let result: Awaited<ReturnType<typeof runFeedbackChain>>;
    try {
      result = await runFeedbackChain(this.backend, vars, input.signal, this.promptVersion, this.deps.answerCut ?? true); // LlmUnavailableError propagates
    } catch (err) {
      await settled;
      throw err;
    }
    if (!result.feedback) {
      await settled;
      this.deps.logger.warn({ sessionId: input.sessionId, problems: result.problems }, "LLM output invalid after one repair; deterministic report");
      const failed = Report.parse({ ...report, llm_status: "failed", message: "Detailed grammar feedback is not available for this answer; the fluency and vocabulary figures are." });
      return { report: failed, feedback: null, check, offeredLessons: [...byId.keys()] };
    }
    let beforeFix: LlmError[] | undefined;
    let spanFix: AnalysisDetail["spanFix"];
    let lmEdits: AnalysisDetail["lmEdits"];
    if (search) {
      const { errors: found, ...rest } = await search;
      result.feedback = { ...result.feedback, errors: found };
      lmEdits = rest;
    }
    // A confused answer is dropped whole by its gate: nothing to repair.
    if (score && !byLikelihood && (this.deps.spanFix ?? true) && !(gates.has("confused") && isConfused(result.feedback.errors))) {
      const fixed = await repairCopiedSpans(result.feedback.errors, words, score);
      if (fixed.asked) {
        beforeFix = result.feedback.errors;
        result.feedback = { ...result.feedback, errors: fixed.errors };
      }
      spanFix = { asked: fixed.asked, changed: fixed.changed, tried: fixed.tried };
    }
    if (beforeFix) check.asWritten = beforeFix;
    const checked = postCheckErrors(result.feedback.errors, check);
    const dropped = checked.dropped;
    let errors = checked.errors;
    let verify: AnalysisDetail["verify"];
    const margin = this.deps.verifyMargin === undefined ? VERIFY_MARGIN : this.deps.verifyMargin;
    // Likelihood edits were verified when they were found.
    if (score && !byLikelihood) {
      verify = [];
      const keep: typeof errors = [];
      for (const e of errors) {
        if (e.type === "recognition_uncertain") {
          keep.push(e);
          continue;
        }
        const ws = base.transcript.offsets.findIndex((o) => o.start === e.start);
        const len = base.transcript.offsets.filter((o) => o.start >= e.start && o.end <= e.end).length;
        const g = await editGain(words, ws, len, e.original, e.correction, score);
        const kept = margin === null || perTokenGain(g) >= -margin;
        const repaired = !!beforeFix && !beforeFix.some((x) => sameWords(x.original, e.original) && x.correction === e.correction);
        verify.push({ edit: `${e.original} -> ${e.correction}`, delta: g.delta, perToken: perTokenGain(g), kept, repaired, original: g.original, corrected: g.corrected });
        if (kept) keep.push(e);
      }
      errors = keep;
    }
    if (dropped.length) this.deps.logger.debug({ dropped: dropped.map((d) => `${d.gate}: ${d.reason}`) }, "LLM errors dropped by the post-check");
    if (!v1) {
      const grammar = errors.filter((e) => e.type !== "recognition_uncertain");
      const found = await this.lessons(grammar.map((e) => `${e.type.replace(/_/g, " ")} ${e.original} ${e.correction}`).join("\n").slice(0, 2000));
      for (const d of found) byId.set(String(d.metadata.lesson_id), d);
      docs.push(...found);
    }
    const merged = this.merge(report, errors, result.feedback, result.status as "ok" | "repaired", byId, docs);
    return { report: Report.parse(merged), feedback: result.feedback, check, offeredLessons: [...byId.keys()], ...(beforeFix ? { beforeFix } : {}), ...(spanFix ? { spanFix } : {}), ...(verify ? { verify } : {}), ...(lmEdits ? { lmEdits } : {}) };
  }

  /** v2: one recommendation per error type (most frequent first), citing lessons tagged with it. */
  private recommendationsFromErrors(errors: Report["errors"], docs: Document[]): Recommendation[] {
    const byType = new Map<string, Report["errors"]>();
    for (const e of errors) if (e.type !== "recognition_uncertain") byType.set(e.type, [...(byType.get(e.type) ?? []), e]);
    return [...byType.entries()]
      .sort((a, b) => b[1].length - a[1].length)
      .slice(0, 3)
      .map(([type, es]) => {
        const lessons = docs.filter((d) => (d.metadata.tags ?? []).includes(type)).slice(0, 2);
        const label = type.replace(/_/g, " ");
        const example = es[0]!;
        return {
          title: lessons[0] ? String(lessons[0].metadata.title ?? label) : `Practise ${label}`,
          reason: `${es.length} ${label} error${es.length === 1 ? "" : "s"}, e.g. "${example.original}" -> "${example.correction}".`,
          focus: type,
          resources: lessons.map(toResource),
        };
      });
  }

  private merge(report: Report, errors: Report["errors"], fb: LlmFeedback, status: "ok" | "repaired", byId: Map<string, Document>, docs: Document[]): Report {
    const recommendations: Recommendation[] =
      fb.recommendations === null
        ? this.recommendationsFromErrors(errors, docs)
        : fb.recommendations.slice(0, 3).map((r) => {
            // Only lessons the retriever returned may be cited; an unknown id is an invention.
            let resources = r.lesson_ids.filter((id) => byId.has(id)).map((id) => toResource(byId.get(id)!));
            if (resources.length === 0 && r.focus) resources = docs.filter((d) => (d.metadata.tags ?? []).includes(r.focus)).slice(0, 2).map(toResource);
            return { title: r.title, reason: r.reason, focus: r.focus || null, resources };
          });
    const usedTypes = new Set(errors.map((e) => e.type));
    return {
      ...report,
      llm_status: status,
      errors,
      strengths: fb.strengths.length ? fb.strengths : report.strengths,
      level: { cefr: fb.level.cefr, evidence: fb.level.evidence },
      recommendations: recommendations.length ? recommendations : report.recommendations,
      message: usedTypes.has("recognition_uncertain") || report.quality === "partly_unreliable" ? report.message : null,
    };
  }

  async close(): Promise<void> {
    for (const wake of this.waiting.splice(0)) wake();
    // A warm-up still evaluating must stop before its context is disposed.
    this.warmupAbort.abort();
    await this.warming;
    await this.backend.close();
  }
}

export async function createAnalyzer(config: Config, deps: AnalyzerDeps): Promise<LlmAnalyzer> {
  const backend = deps.backend ?? createLlmBackend(config, deps.logger);
  return new LlmAnalyzer(config, deps, backend);
}
