// Edit-level scoring for the feedback evaluation (bench/eval/feedback.ts): word-level edits from an
// LCS alignment, compared as (start, end, replacement) triples over the source tokens.

export const toks = (s: string) => s.trim().split(/\s+/).filter(Boolean).map((t) => t.toLowerCase());
/**
 * Tokens for scoring a transcript against references: the transcript joins a punctuation token to
 * the word before it ("stone ." -> "stone."), JFLEG keeps it apart, so sentence punctuation is split
 * off on every side (source, references, hypothesis) alike.
 */
export const scoreToks = (s: string) => toks(s.replace(/([,.!?;:]+)(?=\s|$)/g, " $1"));

export type Edit = string; // "i:j:replacement" over source tokens

/** Word-level edits turning a into b (LCS alignment; adjacent changes merged into one edit). */
export function edits(a: string[], b: string[]): Set<Edit> {
  const n = a.length;
  const m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i]![j] = a[i] === b[j] ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);
  const out = new Set<Edit>();
  let i = 0;
  let j = 0;
  let start: [number, number] | null = null;
  const flush = () => {
    if (start) out.add(`${start[0]}:${i}:${b.slice(start[1], j).join(" ")}`);
    start = null;
  };
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      flush();
      i++;
      j++;
    } else {
      start ??= [i, j];
      if (j < m && (i >= n || L[i]![j + 1]! >= L[i + 1]![j]!)) j++;
      else i++;
    }
  }
  flush();
  return out;
}

export const f05 = (tp: number, fp: number, fn: number) => {
  const p = tp + fp ? tp / (tp + fp) : 1;
  const r = tp + fn ? tp / (tp + fn) : 1;
  return p + r ? (1.25 * p * r) / (0.25 * p + r) : 0;
};

