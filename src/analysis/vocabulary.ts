// Vocabulary profile by CEFR level: share of the learner's words at each level of an open word
// list (see data/README.md for the lists and their licences).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cefr, type VocabularyProfile } from "../protocol/report.js";

const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), "data");
export const STARTER_LIST = join(DATA_DIR, "cefr-starter.txt");
export const CEFRJ_LIST = join(DATA_DIR, "cefrj-vocabulary-profile-1.5.csv");
const ORDER = Cefr.options;
/** Words that carry no lexical level: proper-noun-like tokens and numbers are left out. */
const SKIP = /^\d+$/;

export interface WordList {
  source: string;
  levels: Map<string, string>; // headword -> lowest CEFR level listed
}

function keepLowest(map: Map<string, string>, word: string, level: string) {
  const prev = map.get(word);
  if (!prev || ORDER.indexOf(level as Cefr) < ORDER.indexOf(prev as Cefr)) map.set(word, level);
}

/** Parses the starter list ("A1: w w w") or a CEFR-J CSV ("headword,pos,CEFR,..."). */
export function parseWordList(text: string, source: string): WordList {
  const levels = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  if (/^headword,/i.test(lines[0] ?? "")) {
    for (const line of lines.slice(1)) {
      const m = /^("?)([^",]+)\1,[^,]*,(A1|A2|B1|B2|C1|C2)\b/.exec(line);
      if (!m) continue;
      // "colour/color" and "a.m./A.M." list variants; multi-word entries are kept whole.
      for (const v of m[2]!.split("/")) keepLowest(levels, v.trim().toLowerCase(), m[3]!);
    }
  } else {
    for (const line of lines) {
      const m = /^(A1|A2|B1|B2|C1|C2):\s*(.*)$/.exec(line.trim());
      if (!m) continue;
      for (const w of m[2]!.split(/\s+/).filter(Boolean)) keepLowest(levels, w.toLowerCase(), m[1]!);
    }
  }
  return { source, levels };
}

let cached: WordList | undefined;
/** The CEFR-J list when installed (starter list fills its gaps), else the starter list. */
export function defaultWordList(): WordList {
  if (cached) return cached;
  const starter = parseWordList(readFileSync(STARTER_LIST, "utf8"), "parlance starter list (Apache-2.0)");
  if (existsSync(CEFRJ_LIST)) {
    const cj = parseWordList(readFileSync(CEFRJ_LIST, "utf8"), "CEFR-J Wordlist 1.5 (Tono Laboratory, TUFS)");
    for (const [w, l] of starter.levels) if (!cj.levels.has(w)) cj.levels.set(w, l);
    cached = { source: `${cj.source} + ${starter.source}`, levels: cj.levels };
  } else cached = starter;
  return cached;
}

const IRREGULAR: Record<string, string> = {
  went: "go", gone: "go", did: "do", done: "do", saw: "see", seen: "see", ate: "eat", eaten: "eat", took: "take", taken: "take",
  made: "make", got: "get", gotten: "get", came: "come", gave: "give", given: "give", told: "tell", said: "say", thought: "think",
  bought: "buy", brought: "bring", felt: "feel", found: "find", knew: "know", known: "know", left: "leave", met: "meet", paid: "pay",
  ran: "run", sat: "sit", slept: "sleep", spoke: "speak", spoken: "speak", spent: "spend", stood: "stand", taught: "teach",
  understood: "understand", wrote: "write", written: "write", won: "win", lost: "lose", began: "begin", begun: "begin", drove: "drive",
  driven: "drive", flew: "fly", grew: "grow", heard: "hear", kept: "keep", read: "read", rode: "ride", sang: "sing", swam: "swim",
  wore: "wear", chose: "choose", broke: "break", built: "build", fell: "fall", drank: "drink", forgot: "forget", sent: "send",
  better: "good", best: "good", worse: "bad", worst: "bad", children: "child", men: "man", women: "woman", people: "person",
  "i'm": "i", "you're": "you", "it's": "it", "don't": "do", "doesn't": "do", "didn't": "do", "can't": "can", "won't": "will", "isn't": "is",
} as Record<string, string>;

/** Candidate headwords for an inflected form, most likely first. */
export function lemmaCandidates(w: string): string[] {
  const out = [w];
  if (IRREGULAR[w]) out.push(IRREGULAR[w]);
  const base = w.replace(/'s$/, "");
  if (base !== w) out.push(base);
  if (w.endsWith("ies")) out.push(w.slice(0, -3) + "y");
  if (w.endsWith("es")) out.push(w.slice(0, -2));
  if (w.endsWith("s")) out.push(w.slice(0, -1));
  if (w.endsWith("ied")) out.push(w.slice(0, -3) + "y");
  if (w.endsWith("ed")) out.push(w.slice(0, -2), w.slice(0, -1), w.slice(0, -3));
  if (w.endsWith("ing")) out.push(w.slice(0, -3), w.slice(0, -3) + "e", w.slice(0, -4));
  if (w.endsWith("er")) out.push(w.slice(0, -2), w.slice(0, -1));
  if (w.endsWith("est")) out.push(w.slice(0, -3), w.slice(0, -2));
  if (w.endsWith("ly")) out.push(w.slice(0, -2), w.slice(0, -3) + "y");
  return out;
}

export function levelOf(word: string, list: WordList = defaultWordList()): string | null {
  for (const c of lemmaCandidates(word)) {
    const l = list.levels.get(c);
    if (l) return l;
  }
  return null;
}

/** `tokens`: normalised lexical tokens (fillers removed). */
export function vocabularyProfile(tokens: readonly string[], list: WordList = defaultWordList()): VocabularyProfile {
  const counts: Record<string, number> = Object.fromEntries([...ORDER, "unknown"].map((l) => [l, 0]));
  const above = new Set<string>();
  let total = 0;
  for (const t of tokens) {
    if (SKIP.test(t)) continue;
    const l = levelOf(t, list) ?? "unknown";
    counts[l] = (counts[l] ?? 0) + 1;
    total++;
    if (l === "B2" || l === "C1" || l === "C2") above.add(t);
  }
  const levels: Record<string, number> = {};
  for (const [l, c] of Object.entries(counts)) levels[l] = total ? Math.round((c / total) * 1000) / 1000 : 0;
  return { levels, counts, above_b1: [...above].slice(0, 30), source: list.source };
}
