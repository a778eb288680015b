// Okapi BM25 over chunks: no model, no network, rebuilt in milliseconds for a few thousand chunks.
import { tokenize } from "./text.js";

export interface Bm25Options {
  k1?: number;
  b?: number;
}

export class Bm25Index {
  private readonly k1: number;
  private readonly b: number;
  private readonly docs: Map<string, number>[] = [];
  private readonly lengths: number[] = [];
  private readonly df = new Map<string, number>();
  private avgdl = 0;

  constructor(texts: string[], opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    for (const t of texts) {
      const tf = new Map<string, number>();
      const toks = tokenize(t);
      for (const w of toks) tf.set(w, (tf.get(w) ?? 0) + 1);
      for (const w of tf.keys()) this.df.set(w, (this.df.get(w) ?? 0) + 1);
      this.docs.push(tf);
      this.lengths.push(toks.length);
    }
    this.avgdl = this.lengths.reduce((a, b) => a + b, 0) / Math.max(1, this.lengths.length);
  }

  get size(): number {
    return this.docs.length;
  }

  private idf(term: string): number {
    const n = this.df.get(term) ?? 0;
    const N = this.docs.length;
    return Math.log(1 + (N - n + 0.5) / (n + 0.5));
  }

  /** Score of every document for the query (0 for no overlap), in document order. */
  scores(query: string): number[] {
    // Repeated query words count once: a query is a bag of evidence, not a weighting.
    const terms = [...new Set(tokenize(query))].filter((t) => this.df.has(t));
    return this.docs.map((tf, i) => {
      let s = 0;
      const norm = this.k1 * (1 - this.b + (this.b * this.lengths[i]!) / (this.avgdl || 1));
      for (const t of terms) {
        const f = tf.get(t);
        if (f) s += this.idf(t) * ((f * (this.k1 + 1)) / (f + norm));
      }
      return s;
    });
  }
}
