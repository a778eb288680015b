// Tokens for the lexical index. Function words are kept on purpose: in a grammar curriculum
// "the", "since" or "on" ARE the subject, and BM25's IDF already discounts words every lesson has.
import type { ErrorType } from "../protocol/report.js";

/** Plain-words expansion of tags and error types, so a query "article" meets "a / an / the". */
export const TAG_TERMS: Record<string, string> = {
  tense: "tense tenses past present future perfect time",
  agreement: "agreement subject verb agree singular third person",
  article: "article articles a an the",
  preposition: "preposition prepositions in on at to for of",
  word_order: "word order position adverb",
  plural: "plural plurals singular countable uncountable",
  word_choice: "word choice vocabulary confusing words",
  collocation: "collocation collocations make do go together",
  verb_form: "verb form infinitive gerund ing participle",
  pronoun: "pronoun pronouns he she it they",
  question_form: "question questions auxiliary do does",
  negation: "negation negative not don't",
  spelling: "spelling",
  missing_word: "missing word",
  extra_word: "extra word unnecessary",
  fluency: "fluency pauses speed",
  fillers: "fillers um uh like",
  pronunciation: "pronunciation sounds stress",
};

export function tagTerms(tag: string): string {
  return TAG_TERMS[tag] ?? tag.replace(/_/g, " ");
}

/** A crude, consistent suffix stripper: the same word form on both sides is what matters. */
export function stem(w: string): string {
  if (w.length <= 3) return w;
  if (w.endsWith("ies") && w.length > 4) return w.slice(0, -3) + "y";
  if (w.endsWith("ing") && w.length >= 6) return w.slice(0, -3);
  if (w.endsWith("ed") && w.length >= 5) return w.slice(0, -2);
  if (/(sh|ch|x|ss|z)es$/.test(w)) return w.slice(0, -2);
  if (w.endsWith("s") && !/(ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019']/g, "")
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .map(stem);
}

export interface ErrorQueryInput {
  type: ErrorType | string;
  original?: string;
  correction?: string;
  explanation?: string;
}

/** The retrieval query for one error (or several of one type) as the analysis reports it. */
export function buildErrorQuery(errors: ErrorQueryInput | ErrorQueryInput[]): string {
  const list = Array.isArray(errors) ? errors : [errors];
  const parts = new Set<string>();
  for (const e of list) {
    parts.add(tagTerms(e.type));
    for (const t of [e.original, e.correction, e.explanation]) if (t) parts.add(t);
  }
  return [...parts].join(" ");
}
