// AudioWorklet processor: microphone -> 16 kHz mono pcm_s16le in fixed 250 ms chunks, plus a
// level reading for the meter. Runs on the audio thread, so it only does arithmetic and posts.
import { Resampler, Chunker, floatToInt16 } from "../src/client/audio.js";

declare const sampleRate: number; // AudioWorkletGlobalScope
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}

interface Options {
  processorOptions?: { targetRate?: number; chunkMs?: number };
}

class PcmCaptureProcessor extends AudioWorkletProcessor {
  private readonly resampler: Resampler;
  private readonly chunker: Chunker;
  private levelSum = 0;
  private levelPeak = 0;
  private levelCount = 0;
  private readonly levelEvery: number;
  private stopped = false;

  constructor(options: Options) {
    super(options);
    const target = options.processorOptions?.targetRate ?? 16000;
    const chunkMs = options.processorOptions?.chunkMs ?? 250;
    this.resampler = new Resampler(sampleRate, target);
    this.chunker = new Chunker(Math.round((target * chunkMs) / 1000));
    this.levelEvery = Math.round(sampleRate / 20); // 20 meter updates a second
    this.port.onmessage = (ev: MessageEvent<{ type: string }>) => {
      if (ev.data?.type === "stop") {
        // Hand over the partial last chunk so no spoken audio is lost on stop.
        const rest = this.chunker.drain();
        if (rest) this.port.postMessage({ type: "chunk", pcm: rest.buffer }, [rest.buffer]);
        this.port.postMessage({ type: "stopped" });
        this.stopped = true;
      }
    };
  }

  process(inputs: Float32Array[][]): boolean {
    if (this.stopped) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0 || !channels[0]) return true;
    const frames = channels[0].length;
    let mono = channels[0];
    if (channels.length > 1) {
      mono = new Float32Array(frames);
      for (const ch of channels) for (let i = 0; i < frames; i++) mono[i]! += ch[i]! / channels.length;
    }
    for (let i = 0; i < frames; i++) {
      const v = mono[i]!;
      this.levelSum += v * v;
      const a = Math.abs(v);
      if (a > this.levelPeak) this.levelPeak = a;
    }
    this.levelCount += frames;
    if (this.levelCount >= this.levelEvery) {
      this.port.postMessage({ type: "level", rms: Math.sqrt(this.levelSum / this.levelCount), peak: this.levelPeak });
      this.levelSum = 0;
      this.levelPeak = 0;
      this.levelCount = 0;
    }
    for (const chunk of this.chunker.push(floatToInt16(this.resampler.push(mono)))) {
      this.port.postMessage({ type: "chunk", pcm: chunk.buffer }, [chunk.buffer]);
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCaptureProcessor);
