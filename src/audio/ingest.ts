// Audio ingest: binary frames in the format declared at auth -> validated 16 kHz mono float32.
import { AudioFrameError } from "./errors.js";
import { Resampler } from "./resampler.js";
import type { StreamConfig } from "../protocol/messages.js";
import { createOpusAudioIngest } from "./opus.js";
import { BYTES_PER_SAMPLE, SAMPLE_RATE } from "../domain/audio.js";
export const MIN_RATE = 8000;
export const MAX_RATE = 48000;

export interface AudioIngestOptions {
  /** Longest audio one frame may carry (ms). The protocol promises clients 1 s. */
  maxFrameMs?: number;
}

export interface AudioIngest {
  readonly encoding: StreamConfig["encoding"];
  readonly sampleRate: number;
  readonly channels: number;
  /** Bytes of one frame of `maxFrameMs` audio: the transport's per-frame limit for this stream. */
  readonly maxFrameBytes: number;
  /** Validates and converts one binary frame; throws AudioFrameError (non-fatal = skip frame). */
  decode(frame: Buffer): Float32Array;
  /** End of input: the resampler's last few samples. */
  flush(): Float32Array;
  /** Input seconds accepted so far (at the declared rate). */
  readonly receivedSeconds: number;
  /** Compressed encodings: resolves when the decoder can take frames (awaited before `ready`). */
  readonly ready?: Promise<void>;
  /** Compressed encodings: releases the decoder. */
  close?(): void;
}

type IngestConfig = Pick<StreamConfig, "encoding" | "sample_rate" | "channels">;

export function createAudioIngest(cfg: IngestConfig, opts: AudioIngestOptions = {}): AudioIngest {
  const { encoding, sample_rate: rate, channels } = cfg;
  if (encoding === "opus") return createOpusAudioIngest(opts);
  if (encoding !== "pcm_s16le" && encoding !== "pcm_f32le") {
    throw new AudioFrameError("unsupported_audio", `encoding ${String(encoding)} is not supported (pcm_s16le, pcm_f32le)`, true);
  }
  if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new AudioFrameError("unsupported_audio", `sample_rate ${rate} is outside ${MIN_RATE}-${MAX_RATE} Hz`, true);
  }
  if (channels !== 1 && channels !== 2) {
    throw new AudioFrameError("unsupported_audio", `channels ${channels}: only 1 or 2 are supported`, true);
  }
  const bytesPerSample = BYTES_PER_SAMPLE[encoding];
  const frameBytes = bytesPerSample * channels;
  const maxFrameMs = opts.maxFrameMs ?? 1000;
  const maxFrames = Math.floor((rate * maxFrameMs) / 1000);
  const resampler = new Resampler(rate, SAMPLE_RATE);
  let received = 0;

  function decode(frame: Buffer): Float32Array {
    if (!Buffer.isBuffer(frame) && !((frame as unknown) instanceof Uint8Array)) {
      throw new AudioFrameError("bad_audio", "audio frames must be binary", false);
    }
    if (frame.length === 0) return new Float32Array(0);
    if (frame.length % frameBytes !== 0) {
      throw new AudioFrameError(
        "bad_audio",
        `frame of ${frame.length} bytes is not a whole number of ${encoding} samples x ${channels} channel(s) (${frameBytes} bytes each); frame skipped`,
        false,
      );
    }
    const n = frame.length / frameBytes;
    if (n > maxFrames) {
      throw new AudioFrameError(
        "bad_audio",
        `frame carries ${Math.round((n / rate) * 1000)} ms of audio; at most ${maxFrameMs} ms per frame (send every 250 ms); frame skipped`,
        false,
      );
    }
    const mono = new Float32Array(n);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (encoding === "pcm_s16le") {
      for (let i = 0, o = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++, o += 2) s += view.getInt16(o, true);
        mono[i] = s / (32768 * channels);
      }
    } else {
      for (let i = 0, o = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++, o += 4) {
          const v = view.getFloat32(o, true);
          if (!Number.isFinite(v)) {
            throw new AudioFrameError("bad_audio", `non-finite sample (${v}) at sample ${i}; frame skipped`, false);
          }
          s += v;
        }
        // Over-range floats are clipped rather than refused: some capture stacks overshoot.
        const m = s / channels;
        mono[i] = m > 1 ? 1 : m < -1 ? -1 : m;
      }
    }
    received += n;
    return resampler.process(mono);
  }

  return {
    encoding,
    sampleRate: rate,
    channels,
    maxFrameBytes: maxFrames * frameBytes,
    decode,
    flush: () => resampler.flush(),
    get receivedSeconds() {
      return received / rate;
    },
  };
}
