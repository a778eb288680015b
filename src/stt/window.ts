// The stream's audio window: the samples from the last commit point on, addressed in stream
// samples (sample 0 = the session's first). It grows with a backlog and shrinks back after one,
// so memory stays flat over hours.
import { SAMPLE_RATE } from "../domain/audio.js";

export class AudioWindow {
  private buf = new Float32Array(SAMPLE_RATE * 4);
  private len = 0;
  /** Stream sample of buf[0]. */
  private startSample = 0;
  /** Samples received since the stream began. */
  private totalSamples = 0;

  get start(): number {
    return this.startSample;
  }
  get total(): number {
    return this.totalSamples;
  }

  append(samples: Float32Array): void {
    if (this.len + samples.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + samples.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(samples, this.len);
    this.len += samples.length;
    this.totalSamples += samples.length;
  }

  /** A copy of the window's first `n` samples (what one decode hears). */
  head(n: number): Float32Array {
    return this.buf.slice(0, Math.min(n, this.len));
  }

  /** Drops window audio before stream sample `abs`. */
  dropBefore(abs: number): void {
    const n = Math.min(this.len, Math.max(0, Math.floor(abs) - this.startSample));
    if (n <= 0) return;
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
    this.startSample += n;
    if (this.buf.length > SAMPLE_RATE * 64 && this.len < SAMPLE_RATE * 16) this.buf = this.buf.slice(0, SAMPLE_RATE * 32);
  }
}
