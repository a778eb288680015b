// Stopping an answer early. Output tokens are most of a report's time on a CPU, and small models
// fill the error list with proposals that change nothing ("buyed -> buyed"), which the gates then
// drop. In feedback-v4 the errors come last, so the answer can end at the first such proposal:
// what the model wrote before it (level, strength, earlier errors, the no-op itself, which the
// span-repair pass may still turn into a fix) is kept and the JSON is closed. The rule was chosen
// on recorded answers (docs/bench-analysis.md, "Cutting the answer").
import { sameWords } from "./postcheck.js";

/** Given the answer streamed so far, the closed JSON to use instead of waiting for the rest, or null to go on. */
export type AnswerCut = (partial: string) => string | null;

/**
 * Scans `text` from `from` (just after an array's `[`) and returns where the array's complete
 * object elements start and end. The text is a prefix of grammar-constrained JSON, so it is well
 * formed as far as it goes.
 */
function elements(text: string, from: number): [number, number][] {
  const spans: [number, number][] = [];
  let depth = 0;
  let open = -1;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (depth++ === 0) open = i;
    } else if (c === "}" || c === "]") {
      if (depth === 0) break; // the array itself closed
      if (--depth === 0) spans.push([open, i + 1]);
    }
  }
  return spans;
}

/** The offset just after the `[` of the top-level "errors" array, or -1 while it has not started. */
function errorsStart(text: string): number {
  // The object's other fields come first and hold only strings; the key can only be the top-level
  // one once it is outside every string, which a scan for it outside strings guarantees.
  let depth = 0;
  let inString = false;
  let keyStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        if (depth === 1 && text.slice(keyStart, i + 1) === '"errors"') {
          const m = /^\s*:\s*\[/.exec(text.slice(i + 1));
          return m ? i + 1 + m[0].length : -1;
        }
      }
      continue;
    }
    if (c === '"') {
      inString = true;
      keyStart = i;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return -1;
}

/** feedback-v4: end the answer after its first error whose correction changes nothing. */
export const cutAtFirstNoop: AnswerCut = (partial) => {
  const start = errorsStart(partial);
  if (start < 0) return null;
  for (const [open, end] of elements(partial, start)) {
    let e: { original?: unknown; correction?: unknown };
    try {
      e = JSON.parse(partial.slice(open, end)) as typeof e;
    } catch {
      return null;
    }
    if (typeof e.original === "string" && typeof e.correction === "string" && sameWords(e.original, e.correction)) {
      return `${partial.slice(0, end)}]}`;
    }
  }
  return null;
};
