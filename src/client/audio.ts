// PCM helpers shared by the browser capture worklet, the CLI and SDK callers. No Node or DOM
// imports: this file is bundled into the AudioWorklet, which has neither.

/** Float samples in [-1, 1] to signed 16-bit, clipping instead of wrapping around. */
export function floatToInt16(input: Float32Array): Int16Array {
  const out = new Int16Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const s = Math.max(-1, Math.min(1, input[i]!));
    out[i] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
  }
  return out;
}

export function int16ToFloat(input: Int16Array): Float32Array {
  const out = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) out[i] = input[i]! / 0x8000;
  return out;
}

/** Averages interleaved channels to mono. */
export function downmix(interleaved: Float32Array, channels: number): Float32Array {
  if (channels === 1) return interleaved;
  const frames = Math.floor(interleaved.length / channels);
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[f * channels + c]!;
    out[f] = sum / channels;
  }
  return out;
}

/** Root mean square and peak of a block, both 0..1, for level meters. */
export function levels(samples: Float32Array | Int16Array): { rms: number; peak: number } {
  if (samples.length === 0) return { rms: 0, peak: 0 };
  const scale = samples instanceof Int16Array ? 1 / 0x8000 : 1;
  let sum = 0;
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]! * scale;
    sum += v * v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  return { rms: Math.sqrt(sum / samples.length), peak: Math.min(1, peak) };
}

/**
 * Streaming band-limited resampler (Kaiser-windowed sinc). Browsers capture at 44.1 or 48 kHz and
 * not every browser honours `new AudioContext({ sampleRate: 16000 })`; plain decimation would fold
 * everything above 8 kHz back into the speech band, which Whisper hears as noise.
 */
export class Resampler {
  private readonly step: number; // input samples per output sample
  private readonly cutoff: number; // normalised to the input rate's Nyquist
  private readonly half: number; // taps each side, in input samples
  private buf = new Float32Array(0);
  private pos = 0; // position of the next output sample, in input samples from buf[0]
  private primed = false;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
    quality = 8,
  ) {
    if (!(inRate > 0 && outRate > 0)) throw new RangeError("sample rates must be positive");
    this.step = inRate / outRate;
    this.cutoff = Math.min(1, outRate / inRate) * 0.95;
    this.half = Math.ceil(quality / this.cutoff);
  }

  /** Feeds input samples; returns the output samples that can be computed so far. */
  push(input: Float32Array): Float32Array {
    if (this.inRate === this.outRate) return input.slice();
    if (!this.primed) {
      // Left zero-padding so the first output sample sits on the first input sample.
      this.buf = new Float32Array(this.half);
      this.pos = this.half;
      this.primed = true;
    }
    const joined = new Float32Array(this.buf.length + input.length);
    joined.set(this.buf);
    joined.set(input, this.buf.length);
    this.buf = joined;
    const out: number[] = [];
    while (Math.floor(this.pos) + this.half < this.buf.length) {
      out.push(this.sample(this.pos));
      this.pos += this.step;
    }
    // Keep only the history the next outputs still reach back to.
    const drop = Math.max(0, Math.floor(this.pos) - this.half);
    if (drop > 0) {
      this.buf = this.buf.slice(drop);
      this.pos -= drop;
    }
    return Float32Array.from(out);
  }

  private sample(p: number): number {
    const centre = Math.floor(p);
    let acc = 0;
    for (let k = centre - this.half + 1; k <= centre + this.half; k++) {
      const x = this.buf[k];
      if (x === undefined) continue;
      const t = p - k;
      acc += x * this.cutoff * sinc(this.cutoff * t) * kaiser(t / this.half);
    }
    return acc;
  }
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

const KAISER_BETA = 8;
const KAISER_NORM = besselI0(KAISER_BETA);
function kaiser(x: number): number {
  if (x <= -1 || x >= 1) return 0;
  return besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / KAISER_NORM;
}
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 30; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/** Cuts a stream of samples into fixed-size chunks (the protocol's 250 ms cadence). */
export class Chunker {
  private pending: Int16Array;
  private filled = 0;

  constructor(readonly chunkSamples: number) {
    if (!Number.isInteger(chunkSamples) || chunkSamples <= 0) throw new RangeError("chunkSamples must be a positive integer");
    this.pending = new Int16Array(chunkSamples);
  }

  push(samples: Int16Array): Int16Array[] {
    const out: Int16Array[] = [];
    let i = 0;
    while (i < samples.length) {
      const n = Math.min(samples.length - i, this.chunkSamples - this.filled);
      this.pending.set(samples.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.chunkSamples) {
        out.push(this.pending);
        this.pending = new Int16Array(this.chunkSamples);
        this.filled = 0;
      }
    }
    return out;
  }

  /** The partial last chunk, if any. */
  drain(): Int16Array | null {
    if (this.filled === 0) return null;
    const rest = this.pending.slice(0, this.filled);
    this.filled = 0;
    return rest;
  }
}
