// Candidate edits for the likelihood search (lm-edits.ts): for each word, the few other forms a
// learner commonly confuses it with (Bryant & Briscoe 2018, "Language model based grammatical
// error correction without annotated training data"): verb forms, noun number, articles,
// prepositions. The language model, not this list, decides whether any of them is an error; the
// list only bounds what it is asked. Part-of-speech tags and inflections come from compromise,
// tagged on the whole transcript so that "work" in "my sister work" is a verb.
import nlp from "compromise";
import type { ErrorType } from "../protocol/report.js";
import { normalizeWord } from "./text.js";

export interface Candidate {
  /** First word of the span (index into the transcript's words) and its length in words. */
  at: number;
  len: number;
  /** The learner's words of the span and the replacement (lower case; the span keeps its case in the report). */
  original: string;
  correction: string;
  type: Exclude<ErrorType, "recognition_uncertain" | "spelling">;
  /** A rule-of-thumb explanation a learner understands, written from the edit itself. */
  explanation: string;
  /** The learner's word is no form of its word at all ("buyed"): not a choice between two real forms. */
  invented?: boolean;
}

const PREPOSITIONS = ["in", "on", "at", "to", "for", "of", "with", "from", "about", "by"] as const;
const MODALS = new Set(["can", "could", "will", "would", "shall", "should", "may", "might", "must"]);
/**
 * Forms of be and the negated auxiliaries, swapped for agreement (same tense) or tense (same
 * person); the inflection rules do not apply to them ("don't" is no verb to conjugate).
 */
const AUXILIARIES: Record<string, { agreement: string[]; tense: string[] }> = {
  am: { agreement: ["is", "are"], tense: ["was"] },
  is: { agreement: ["are"], tense: ["was"] },
  are: { agreement: ["is"], tense: ["were"] },
  was: { agreement: ["were"], tense: ["is"] },
  were: { agreement: ["was"], tense: ["are"] },
  "don't": { agreement: ["doesn't"], tense: ["didn't"] },
  "doesn't": { agreement: ["don't"], tense: ["didn't"] },
  "isn't": { agreement: ["aren't"], tense: ["wasn't"] },
  "aren't": { agreement: ["isn't"], tense: ["weren't"] },
  "wasn't": { agreement: ["weren't"], tense: ["isn't"] },
  "weren't": { agreement: ["wasn't"], tense: ["aren't"] },
  "haven't": { agreement: ["hasn't"], tense: [] },
  "hasn't": { agreement: ["haven't"], tense: [] },
};
const ARTICLES = new Set(["a", "an", "the"]);
const NOT_BEFORE_ARTICLE = new Set(["Determiner", "Possessive", "Adjective", "Value", "Noun", "Pronoun"]);

interface Tagged {
  word: string;
  tags: Set<string>;
}

/** compromise's tags per transcript word (words it splits or merges keep only what is certain). */
function tag(words: readonly string[]): Tagged[] {
  const norm = words.map(normalizeWord);
  const starts: number[] = [];
  let text = "";
  for (const w of norm) {
    if (text) text += " ";
    starts.push(text.length);
    text += w;
  }
  const out: Tagged[] = norm.map((w) => ({ word: w, tags: new Set<string>() }));
  const json = nlp(text).json({ offset: true }) as { terms: { text: string; tags: string[]; offset: { start: number; length: number } }[] }[];
  for (const s of json)
    for (const t of s.terms) {
      if (!t.offset.length) continue; // implicit words of contractions ("don't" -> do + not)
      const i = starts.indexOf(t.offset.start);
      if (i >= 0 && t.text.toLowerCase() === norm[i]) out[i]!.tags = new Set(t.tags);
    }
  return out;
}

type Forms = { Infinitive?: string; PastTense?: string; PresentTense?: string; Gerund?: string; Participle?: string };
const formCache = new Map<string, Forms | null>();
function verbForms(w: string): Forms | null {
  let f = formCache.get(w);
  if (f === undefined) {
    const d = nlp(w);
    d.tag("Verb");
    f = (d.verbs().conjugate() as Forms[])[0] ?? null;
    if (formCache.size > 5000) formCache.clear();
    formCache.set(w, f);
  }
  return f;
}
function nounForms(w: string, plural: boolean): string | null {
  const d = nlp(w);
  d.tag(plural ? "Plural" : "Singular");
  const n = d.nouns();
  const other = (plural ? n.toSingular() : n.toPlural()).text().toLowerCase();
  return other && other !== w && /^[a-z]+$/.test(other) ? other : null;
}
const isWord = (w: string) => /^[a-z][a-z']*$/.test(w);
const article = (next: string) => (/^[aeiou]/.test(next) ? "an" : "a");

/** Every candidate edit of a transcript; words marked `skip` (uncertain, disfluent) get none. */
export function confusions(words: readonly string[], skip: (i: number) => boolean = () => false): Candidate[] {
  const tagged = tag(words);
  const out: Candidate[] = [];
  const add = (c: Candidate) => {
    if (c.correction !== c.original) out.push(c);
  };
  for (const [i, { word: w, tags }] of tagged.entries()) {
    // A word said twice ("the the students") is a repetition, which the fluency figures count.
    if (skip(i) || !isWord(w) || tagged[i - 1]?.word === w) continue;
    const next = tagged[i + 1];
    const aux = AUXILIARIES[w];
    if (aux) {
      for (const c of aux.agreement) add({ at: i, len: 1, original: w, correction: c, type: "agreement", explanation: `The verb must agree with its subject: "${c}".` });
      for (const c of aux.tense) add({ at: i, len: 1, original: w, correction: c, type: "tense", explanation: `The time of the sentence needs "${c}".` });
    } else if (tags.has("Verb") && !MODALS.has(w) && !tags.has("Copula") && !w.includes("'")) {
      const f = verbForms(w);
      if (f) {
        const known = [f.Infinitive, f.PastTense, f.PresentTense, f.Gerund, f.Participle].includes(w);
        const base = f.Infinitive ?? w;
        const seen = new Set<string>([w]);
        // A regular ending on a verb that has none ("buyed", "swimmed") is a past the learner meant.
        const meantPast = !known && /ed$/.test(w);
        for (const [form, c] of Object.entries(f) as [keyof Forms, string | undefined][]) {
          if (!c || !isWord(c) || seen.has(c)) continue;
          if (meantPast && form !== "PastTense" && form !== "Participle") continue;
          seen.add(c);
          // "buyed" is no form of buy at all; "go"/"goes" differ in person; "go"/"went" in time.
          const type: Candidate["type"] = !known ? "verb_form" : (form === "PresentTense" && w === f.Infinitive) || (form === "Infinitive" && w === f.PresentTense) ? "agreement" : form === "PastTense" || w === f.PastTense ? "tense" : "verb_form";
          const what = form === "PastTense" ? `the past of "${base}"` : form === "PresentTense" ? `the he/she/it form of "${base}"` : form === "Gerund" ? `the -ing form of "${base}"` : form === "Participle" ? `the past participle of "${base}"` : `the base form "${base}"`;
          add({ at: i, len: 1, original: w, correction: c, type, explanation: `Here the verb needs ${what}: "${c}".`, ...(known ? {} : { invented: true }) });
        }
      }
    } else if (tags.has("Noun") && !tags.has("Pronoun") && !tags.has("ProperNoun") && !tags.has("Possessive") && !tags.has("Value")) {
      const plural = tags.has("Plural");
      const c = nounForms(w, plural);
      if (c) add({ at: i, len: 1, original: w, correction: c, type: "plural", explanation: plural ? `One thing here: the singular "${c}".` : `More than one here: the plural "${c}".` });
    }
    if (ARTICLES.has(w)) {
      const swaps = w === "the" ? [article(next?.word ?? "")] : w === "a" ? ["an", "the"] : ["a", "the"];
      for (const c of swaps) add({ at: i, len: 1, original: w, correction: c, type: "article", explanation: c === "the" ? `A thing already known: "the".` : `"${c}" before this word.` });
      if (next && isWord(next.word) && !skip(i + 1)) add({ at: i, len: 2, original: `${w} ${next.word}`, correction: next.word, type: "article", explanation: `No article is needed here.` });
    }
    // An article before a singular noun (or its adjective) that has none.
    const prev = tagged[i - 1];
    const singularNoun = tags.has("Noun") && tags.has("Singular") && !tags.has("Pronoun") && !tags.has("ProperNoun") && !tags.has("Possessive");
    const adjectiveBeforeNoun = tags.has("Adjective") && !!next?.tags.has("Singular") && !next.tags.has("Pronoun");
    if ((singularNoun || adjectiveBeforeNoun) && !ARTICLES.has(prev?.word ?? "") && ![...(prev?.tags ?? [])].some((t) => NOT_BEFORE_ARTICLE.has(t))) {
      for (const a of ["the", article(w)]) add({ at: i, len: 1, original: w, correction: `${a} ${w}`, type: "article", explanation: `A single countable thing needs an article here: "${a}".` });
    }
    if ((PREPOSITIONS as readonly string[]).includes(w) && !(w === "to" && next?.tags.has("Verb"))) {
      for (const c of PREPOSITIONS) if (c !== w) add({ at: i, len: 1, original: w, correction: c, type: "preposition", explanation: `The usual preposition here is "${c}".` });
    }
  }
  return out;
}
