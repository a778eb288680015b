// Streaming band-limited resampler: windowed-sinc (Kaiser) polyphase interpolation between any
// two integer rates. State (input history and output phase) carries across calls, so frame
// boundaries leave no clicks and the result equals resampling the whole signal at once.
//
// Why not linear interpolation: dropping 48 kHz to 16 kHz without a low-pass folds 8-24 kHz
// (sibilants, fans, hum harmonics) back into the speech band that Whisper listens to.

export interface ResamplerOptions {
  /** Zero crossings of the sinc on each side: more = steeper transition band. */
  halfZeros?: number;
  /** Pass-band edge as a fraction of the lower Nyquist frequency. */
  rolloff?: number;
  /** Kaiser window beta: ~8.6 gives ~80 dB stop-band attenuation. */
  kaiserBeta?: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series), for the Kaiser window. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  private readonly up: number; // L
  private readonly down: number; // M
  private readonly fcut: number; // cycles per input sample
  private readonly width: number; // half-width of the filter in input samples
  private readonly taps: number;
  private readonly beta: number;
  private readonly i0beta: number;
  private readonly phases: (Float32Array | undefined)[];
  /** Input samples not yet fully consumed; index 0 is absolute input sample `bufStart`. */
  private buf = new Float32Array(0);
  private bufStart = 0;
  /** Next output sample index (absolute). */
  private outIndex = 0;
  private inTotal = 0;

  constructor(inRate: number, outRate: number, opts: ResamplerOptions = {}) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
      throw new RangeError(`resampler rates must be positive integers (got ${inRate} -> ${outRate})`);
    }
    this.inRate = inRate;
    this.outRate = outRate;
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    const halfZeros = opts.halfZeros ?? 16;
    this.fcut = 0.5 * Math.min(1, outRate / inRate) * (opts.rolloff ?? 0.92);
    this.width = halfZeros / (2 * this.fcut);
    this.taps = 2 * Math.ceil(this.width) + 1;
    this.beta = opts.kaiserBeta ?? 8.6;
    this.i0beta = besselI0(this.beta);
    // Built lazily: a rate like 44100 -> 16000 has 160 phases, an odd one like 8001 up to 16000.
    this.phases = new Array(this.up);
  }

  get passthrough(): boolean {
    return this.up === this.down;
  }

  /** Coefficients for output phase p: weights of input samples base-half+1 .. base+half+1. */
  private phase(p: number): Float32Array {
    let c = this.phases[p];
    if (c) return c;
    c = new Float32Array(this.taps);
    const half = (this.taps - 1) / 2;
    const frac = p / this.up; // output time minus floor, in input samples
    let sum = 0;
    for (let k = 0; k < this.taps; k++) {
      // input sample j = base - half + k; distance tau = t - j = frac + half - k
      const tau = frac + half - k;
      const r = tau / this.width;
      if (Math.abs(r) >= 1) continue;
      const x = 2 * this.fcut * tau;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const win = besselI0(this.beta * Math.sqrt(1 - r * r)) / this.i0beta;
      c[k] = sinc * win;
      sum += c[k]!;
    }
    for (let k = 0; k < this.taps; k++) c[k]! /= sum; // unity gain at DC
    this.phases[p] = c;
    return c;
  }

  /** Feeds input samples, returns every output sample that can be computed so far. */
  process(input: Float32Array): Float32Array {
    if (this.passthrough) {
      this.inTotal += input.length;
      return input;
    }
    this.inTotal += input.length;
    const merged = new Float32Array(this.buf.length + input.length);
    merged.set(this.buf, 0);
    merged.set(input, this.buf.length);
    this.buf = merged;
    return this.drain(this.inTotal);
  }

  /** End of input: pads with silence so the last samples come out. */
  flush(): Float32Array {
    if (this.passthrough) return new Float32Array(0);
    const half = (this.taps - 1) / 2;
    const pad = new Float32Array(half + 1);
    const merged = new Float32Array(this.buf.length + pad.length);
    merged.set(this.buf, 0);
    this.buf = merged;
    // Only outputs whose time lies within the real input are produced.
    return this.drain(this.inTotal, this.inTotal + pad.length);
  }

  private drain(realInputEnd: number, availableEnd = realInputEnd): Float32Array {
    const half = (this.taps - 1) / 2;
    const out: number[] = [];
    for (;;) {
      const num = this.outIndex * this.down;
      const base = Math.floor(num / this.up); // input sample at or before the output time
      if (base >= realInputEnd) break;
      const last = base + half + 1; // newest input needed
      if (last >= availableEnd) break;
      const c = this.phase(num % this.up);
      let acc = 0;
      let j = base - half - this.bufStart;
      for (let k = 0; k < this.taps; k++, j++) {
        if (j >= 0) acc += c[k]! * this.buf[j]!; // before the first sample: silence
      }
      out.push(acc);
      this.outIndex++;
    }
    // Keep only the history the next output still needs.
    const nextBase = Math.floor((this.outIndex * this.down) / this.up);
    const keepFrom = Math.max(this.bufStart, nextBase - half);
    if (keepFrom > this.bufStart) {
      this.buf = this.buf.slice(keepFrom - this.bufStart);
      this.bufStart = keepFrom;
    }
    return Float32Array.from(out);
  }
}
