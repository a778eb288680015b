// Minimal RIFF/WAVE reader for 16-bit PCM and 32-bit float files (tests, benchmarks, CLI).
import { readFileSync } from "node:fs";
import { SAMPLE_RATE } from "../domain/audio.js";

export interface WavData {
  sampleRate: number;
  channels: number;
  /** Interleaved samples in [-1, 1]. */
  samples: Float32Array;
  /** The raw sample bytes as stored (pcm_s16le or pcm_f32le). */
  pcm: Buffer;
  encoding: "pcm_s16le" | "pcm_f32le";
}

export function parseWav(buf: Buffer): WavData {
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") throw new Error("not a RIFF/WAVE file");
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString("ascii", off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === "fmt ") {
      fmt = { format: buf.readUInt16LE(body), channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === "data") {
      if (!fmt) throw new Error("data chunk before fmt chunk");
      const pcm = buf.subarray(body, Math.min(buf.length, body + size));
      const float = fmt.format === 3 || (fmt.format === 0xfffe && fmt.bits === 32);
      if (!float && fmt.bits !== 16) throw new Error(`unsupported WAV: ${fmt.bits}-bit format ${fmt.format}`);
      const samples = float
        ? Float32Array.from({ length: pcm.length / 4 }, (_, i) => pcm.readFloatLE(i * 4))
        : Float32Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2) / 32768);
      return { sampleRate: fmt.rate, channels: fmt.channels, samples, pcm, encoding: float ? "pcm_f32le" : "pcm_s16le" };
    }
    off = body + size + (size & 1);
  }
  throw new Error("no data chunk");
}

export function readWav(path: string): WavData {
  return parseWav(readFileSync(path));
}

/** 16 kHz mono 16-bit WAV bytes (what the remote transcriber uploads). */
export function encodeWav16k(samples: Float32Array, sampleRate = SAMPLE_RATE): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]!));
    data.writeInt16LE(Math.round(v < 0 ? v * 32768 : v * 32767), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + data.length, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "ascii");
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
