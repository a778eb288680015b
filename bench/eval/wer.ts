// Word error rate with one text normalisation for every side of a comparison (streamed, offline,
// reference): case, punctuation, hyphens, curly apostrophes, and digits spelled out the way the
// references spell numbers (speechocean762 and LibriSpeech write "THREE", Whisper writes "3").

const ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

function below1000(n: number): string[] {
  const out: string[] = [];
  if (n >= 100) {
    out.push(ONES[Math.floor(n / 100)]!, "hundred");
    n %= 100;
  }
  if (n >= 20) {
    out.push(TENS[Math.floor(n / 10)]!);
    if (n % 10) out.push(ONES[n % 10]!);
  } else if (n > 0 || out.length === 0) out.push(ONES[n]!);
  return out;
}

/** Cardinal number in words; four-digit numbers 1100-2099 not divisible by 100 are read as years. */
export function numberWords(n: number): string[] {
  if (!Number.isSafeInteger(n) || n < 0) return [String(n)];
  if (n >= 1100 && n < 2100 && n % 100 !== 0 && n % 1000 >= 10) {
    const hi = Math.floor(n / 100);
    const lo = n % 100;
    return [...below1000(hi), ...(lo < 10 ? ["oh", ONES[lo]!] : below1000(lo))];
  }
  const out: string[] = [];
  const scales: [number, string][] = [
    [1e9, "billion"],
    [1e6, "million"],
    [1e3, "thousand"],
  ];
  for (const [v, name] of scales) {
    if (n >= v) {
      out.push(...below1000(Math.floor(n / v)), name);
      n %= v;
    }
  }
  if (n > 0 || out.length === 0) out.push(...below1000(n));
  return out;
}

/** Lower-case words, punctuation gone, apostrophes kept inside words, digits spelled out. */
export function normalizeText(text: string): string[] {
  const t = text
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/(\d),(\d{3})/g, "$1$2")
    .replace(/(\d+)%/g, "$1 percent")
    .replace(/[-\u2010-\u2015/]/g, " ")
    .replace(/[^\p{L}\p{N}'\s]+/gu, " ");
  const words: string[] = [];
  for (const raw of t.split(/\s+/)) {
    const w = raw.replace(/^'+|'+$/g, "");
    if (!w) continue;
    const num = /^(\d+)(st|nd|rd|th|s)?$/.exec(w);
    if (num) words.push(...numberWords(Number(num[1])));
    else words.push(w);
  }
  return words;
}

export interface WerCounts {
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Reference words. */
  words: number;
}

/** Levenshtein alignment counts between reference and hypothesis word lists. */
export function werCounts(ref: string[], hyp: string[]): WerCounts {
  const n = ref.length;
  const m = hyp.length;
  // cost, subs, dels, ins per cell of the current and previous row
  let prev = Array.from({ length: m + 1 }, (_, j) => ({ c: j, s: 0, d: 0, i: j }));
  for (let a = 1; a <= n; a++) {
    const cur = [{ c: a, s: 0, d: a, i: 0 }];
    for (let b = 1; b <= m; b++) {
      const same = ref[a - 1] === hyp[b - 1];
      const diag = prev[b - 1]!;
      const up = prev[b]!;
      const left = cur[b - 1]!;
      let best = { c: diag.c + (same ? 0 : 1), s: diag.s + (same ? 0 : 1), d: diag.d, i: diag.i };
      if (up.c + 1 < best.c) best = { c: up.c + 1, s: up.s, d: up.d + 1, i: up.i };
      if (left.c + 1 < best.c) best = { c: left.c + 1, s: left.s, d: left.d, i: left.i + 1 };
      cur.push(best);
    }
    prev = cur;
  }
  const last = prev[m]!;
  return { substitutions: last.s, deletions: last.d, insertions: last.i, words: n };
}

export function errors(c: WerCounts): number {
  return c.substitutions + c.deletions + c.insertions;
}

/** Word errors between two texts after normalisation. */
export function wordErrors(reference: string, hypothesis: string): WerCounts {
  return werCounts(normalizeText(reference), normalizeText(hypothesis));
}

/** Corpus WER: total errors over total reference words. */
export function corpusWer(counts: WerCounts[]): number {
  const words = counts.reduce((n, c) => n + c.words, 0);
  return words === 0 ? 0 : counts.reduce((n, c) => n + errors(c), 0) / words;
}

/** For each reference word: "ok", "sub" or "del" in a minimum-edit alignment with the hypothesis. */
export function alignRef(ref: string[], hyp: string[]): ("ok" | "sub" | "del")[] {
  const n = ref.length;
  const m = hyp.length;
  const d: number[][] = Array.from({ length: n + 1 }, (_, a) => Array.from({ length: m + 1 }, (_, b) => (a === 0 ? b : b === 0 ? a : 0)));
  for (let a = 1; a <= n; a++)
    for (let b = 1; b <= m; b++) d[a]![b] = Math.min(d[a - 1]![b - 1]! + (ref[a - 1] === hyp[b - 1] ? 0 : 1), d[a - 1]![b]! + 1, d[a]![b - 1]! + 1);
  const out: ("ok" | "sub" | "del")[] = new Array(n);
  let a = n;
  let b = m;
  while (a > 0) {
    if (b > 0 && d[a]![b] === d[a - 1]![b - 1]! + (ref[a - 1] === hyp[b - 1] ? 0 : 1)) {
      out[a - 1] = ref[a - 1] === hyp[b - 1] ? "ok" : "sub";
      a--;
      b--;
    } else if (d[a]![b] === d[a - 1]![b]! + 1) {
      out[a - 1] = "del";
      a--;
    } else b--;
  }
  return out;
}

/**
 * Back-to-back repeated n-grams that the reference does not have: `loops` are n-grams repeated 3+
 * times in a row (a decoding loop); `doubled` are phrases of 3+ words said twice in a row (the
 * "last sentence repeated" failure of agreement streaming).
 */
export function repeatedNgrams(hyp: string[], ref: string[]): { loops: number; doubled: number } {
  const refText = ` ${ref.join(" ")} `;
  let loops = 0;
  let doubled = 0;
  for (let i = 0; i < hyp.length; i++) {
    for (let n = 1; n <= 12 && i + 2 * n <= hyp.length; n++) {
      let reps = 1;
      while (i + (reps + 1) * n <= hyp.length && hyp.slice(i + reps * n, i + (reps + 1) * n).join(" ") === hyp.slice(i, i + n).join(" ")) reps++;
      if (reps < 2) continue;
      const phrase = hyp.slice(i, i + n * Math.min(reps, 3)).join(" ");
      if (refText.includes(` ${phrase} `)) continue;
      if (reps < 3 && n < 3) continue;
      if (reps >= 3) loops++;
      else doubled++;
      // One repetition counts once, not once per word it starts on.
      i += reps * n - 1;
      break;
    }
  }
  return { loops, doubled };
}
