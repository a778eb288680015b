// Energy voice-activity detector with an adaptive noise floor, on 20 ms frames of 16 kHz audio.
//
// Why energy and not Silero: smart-whisper exposes no VAD API, and the one npm binding with a
// working Silero context (@fugood/whisper.node) ships a build without AVX. The energy VAD's job
// here is only to decide *whether to decode*: no decoding on silence or steady noise, and an
// utterance end after a pause. Whisper's own guards (judgeSegment, src/stt/policy.ts) catch what slips through.

export const VAD_FRAME_SAMPLES = 320; // 20 ms at 16 kHz

export interface EnergyVadOptions {
  /** Speech needs this many dB above the noise floor. */
  marginDb?: number;
  /** Frames quieter than this are never speech, whatever the floor (dBFS). */
  absoluteFloorDb?: number;
  /** Consecutive loud frames before speech is declared (debounces clicks). */
  onsetFrames?: number;
  /** Frames used to learn the first noise floor; no speech is declared during them. */
  calibrationFrames?: number;
  /** The noise floor is the quietest frame of this many recent frames (minimum statistics). */
  floorWindowFrames?: number;
  /** Floors below this (digital silence) are raised to it, so a zero start does not make every later pause "speech". */
  minFloorDb?: number;
}

export interface VadFrame {
  /** Index of the frame's first sample in the stream (16 kHz samples). */
  start: number;
  energyDb: number;
  speech: boolean;
}

export class EnergyVad {
  private readonly marginDb: number;
  private readonly absoluteFloorDb: number;
  private readonly onsetFrames: number;
  private readonly calibrationFrames: number;
  private readonly floorWindow: number;
  private readonly minFloorDb: number;
  private floorDb = Number.NaN;
  /** Monotonic deque of [frameIndex, dB] for the sliding minimum. */
  private minQueue: [number, number][] = [];
  private loudRun = 0;
  private frames = 0;
  private pending = new Float32Array(0);
  private consumed = 0;

  constructor(opts: EnergyVadOptions = {}) {
    this.marginDb = opts.marginDb ?? 10;
    this.absoluteFloorDb = opts.absoluteFloorDb ?? -55;
    this.onsetFrames = opts.onsetFrames ?? 3;
    this.calibrationFrames = opts.calibrationFrames ?? 10;
    this.floorWindow = opts.floorWindowFrames ?? 100;
    this.minFloorDb = opts.minFloorDb ?? -70;
  }

  get noiseFloorDb(): number {
    return this.floorDb;
  }

  /** Feeds 16 kHz samples; returns one decision per completed 20 ms frame. */
  push(samples: Float32Array): VadFrame[] {
    let data = samples;
    if (this.pending.length) {
      data = new Float32Array(this.pending.length + samples.length);
      data.set(this.pending, 0);
      data.set(samples, this.pending.length);
    }
    const out: VadFrame[] = [];
    let off = 0;
    for (; off + VAD_FRAME_SAMPLES <= data.length; off += VAD_FRAME_SAMPLES) {
      let e = 0;
      for (let i = off; i < off + VAD_FRAME_SAMPLES; i++) e += data[i]! * data[i]!;
      const db = 10 * Math.log10(e / VAD_FRAME_SAMPLES + 1e-12);
      out.push({ start: this.consumed, energyDb: db, speech: this.decide(db) });
      this.consumed += VAD_FRAME_SAMPLES;
    }
    this.pending = data.slice(off);
    return out;
  }

  private decide(db: number): boolean {
    this.frames++;
    // Minimum statistics: the floor is the quietest frame of the last ~2 s. Speech always has
    // gaps between syllables, so this tracks the room, not the voice, and follows a noise
    // level that rises or falls within the window's length.
    const q = this.minQueue;
    while (q.length && q[q.length - 1]![1] >= db) q.pop();
    q.push([this.frames, db]);
    while (q[0]![0] <= this.frames - this.floorWindow) q.shift();
    this.floorDb = Math.max(this.minFloorDb, q[0]![1]);
    const loud = db > this.floorDb + this.marginDb && db > this.absoluteFloorDb;
    if (this.frames <= this.calibrationFrames) {
      this.loudRun = 0;
      return false;
    }
    this.loudRun = loud ? this.loudRun + 1 : 0;
    return this.loudRun >= this.onsetFrames;
  }
}
