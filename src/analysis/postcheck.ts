// Post-checks on the LLM's errors: the span must hold exactly the quoted words (else dropped),
// no-op edits and overlaps are dropped, and anything touching an uncertain word becomes
// "recognition_uncertain" so the learner is never blamed for a transcription error.
import type { LanguageError } from "../protocol/report.js";
import type { LlmError } from "./llm-schema.js";
import { normalizeWord, type TranscriptText } from "./text.js";

export const RECOGNITION_NOTE = "Possibly a pronunciation or recognition issue";

const norm = (s: string) => s.split(/\s+/).map(normalizeWord).filter(Boolean).join(" ");

export interface PostCheckContext {
  words: readonly { word: string }[];
  transcript: TranscriptText;
  uncertain: readonly boolean[];
}

export interface PostCheckResult {
  errors: LanguageError[];
  dropped: { error: LlmError; reason: string }[];
}

export function postCheckErrors(llmErrors: readonly LlmError[], ctx: PostCheckContext): PostCheckResult {
  const errors: (LanguageError & { ws: number; we: number })[] = [];
  const dropped: PostCheckResult["dropped"] = [];
  const n = ctx.words.length;
  for (const e of llmErrors) {
    const { word_start: ws, word_end: we } = e;
    if (!Number.isInteger(ws) || !Number.isInteger(we) || ws < 0 || we < ws || we >= n) {
      dropped.push({ error: e, reason: "span outside the transcript" });
      continue;
    }
    const spanWords = ctx.words.slice(ws, we + 1).map((w) => w.word).join(" ");
    if (norm(spanWords) !== norm(e.original) || norm(e.original) === "") {
      dropped.push({ error: e, reason: "original text does not match its span" });
      continue;
    }
    if (norm(e.correction) === norm(e.original)) {
      dropped.push({ error: e, reason: "correction changes nothing" });
      continue;
    }
    if (errors.some((x) => ws <= x.we && we >= x.ws)) {
      dropped.push({ error: e, reason: "overlaps an earlier error" });
      continue;
    }
    const start = ctx.transcript.offsets[ws]!.start;
    const end = ctx.transcript.offsets[we]!.end;
    const original = ctx.transcript.text.slice(start, end);
    const uncertain = ctx.uncertain.slice(ws, we + 1).some(Boolean);
    errors.push(
      uncertain
        ? {
            ws,
            we,
            start,
            end,
            original,
            correction: e.correction,
            type: "recognition_uncertain",
            explanation: `${RECOGNITION_NOTE}: "${original}" was not recognised clearly, so it is not counted as a grammar mistake. If you meant "${e.correction}", practise saying it clearly.`,
            severity: "minor",
          }
        : { ws, we, start, end, original, correction: e.correction, type: e.type as LanguageError["type"], explanation: e.explanation, severity: e.severity },
    );
  }
  return { errors: errors.sort((a, b) => a.start - b.start).map(({ ws: _ws, we: _we, ...rest }) => rest), dropped };
}
