import { test } from "node:test";
import assert from "node:assert/strict";
import { createAudioIngest, AudioFrameError } from "../../src/audio/index.js";

function s16(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}
function f32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}
function expectAudioError(fn: () => unknown, code: string, fatal: boolean) {
  assert.throws(fn, (e: unknown) => e instanceof AudioFrameError && e.code === code && e.fatal === fatal);
}

test("pcm_s16le mono 16 kHz decodes to floats in [-1, 1)", () => {
  const ing = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 16000, channels: 1 });
  assert.deepEqual(Array.from(ing.decode(s16([0, 16384, -32768]))), [0, 0.5, -1]);
});

test("stereo is downmixed by averaging", () => {
  const ing = createAudioIngest({ encoding: "pcm_f32le", sample_rate: 16000, channels: 2 });
  assert.deepEqual(Array.from(ing.decode(f32([0.5, 0.25, -1, 1]))), [0.375, 0]);
});

test("odd byte count is a non-fatal bad_audio and the next frame still decodes", () => {
  const ing = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 16000, channels: 1 });
  expectAudioError(() => ing.decode(Buffer.alloc(3)), "bad_audio", false);
  const stereo = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 16000, channels: 2 });
  expectAudioError(() => stereo.decode(Buffer.alloc(6)), "bad_audio", false); // 3 samples, not whole frames
  assert.equal(ing.decode(s16([1, 2])).length, 2);
});

test("NaN or Infinity in pcm_f32le is a non-fatal bad_audio", () => {
  const ing = createAudioIngest({ encoding: "pcm_f32le", sample_rate: 16000, channels: 1 });
  expectAudioError(() => ing.decode(f32([0, Number.NaN])), "bad_audio", false);
  expectAudioError(() => ing.decode(f32([Number.POSITIVE_INFINITY])), "bad_audio", false);
  assert.equal(ing.decode(f32([0.1, 0.2])).length, 2);
});

test("a frame longer than 1 s (a 10 MB frame) is refused without decoding it", () => {
  const ing = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 48000, channels: 2 });
  assert.equal(ing.maxFrameBytes, 48000 * 4);
  expectAudioError(() => ing.decode(Buffer.alloc(10 * 1024 * 1024)), "bad_audio", false);
  expectAudioError(() => ing.decode(Buffer.alloc(48001 * 4)), "bad_audio", false);
  assert.ok(ing.decode(Buffer.alloc(48000 * 4)).length > 15900);
});

test("unsupported declarations are fatal unsupported_audio", () => {
  expectAudioError(() => createAudioIngest({ encoding: "pcm_s16le", sample_rate: 96000, channels: 1 }), "unsupported_audio", true);
  expectAudioError(() => createAudioIngest({ encoding: "pcm_s16le", sample_rate: 4000, channels: 1 }), "unsupported_audio", true);
  expectAudioError(() => createAudioIngest({ encoding: "pcm_s16le", sample_rate: 16000, channels: 3 }), "unsupported_audio", true);
  expectAudioError(() => createAudioIngest({ encoding: "webm_opus" as "pcm_s16le", sample_rate: 48000, channels: 1 }), "unsupported_audio", true);
});

test("44.1 kHz stereo 250 ms frames come out as 16 kHz mono at the right total length", () => {
  const ing = createAudioIngest({ encoding: "pcm_s16le", sample_rate: 44100, channels: 2 });
  let n = 0;
  for (let i = 0; i < 8; i++) n += ing.decode(Buffer.alloc(11025 * 4)).length; // 2 s
  n += ing.flush().length;
  assert.equal(n, 32000);
  assert.equal(ing.receivedSeconds, 2);
});
