// PCM helpers used by the capture worklet: conversion, band-limited resampling, chunking.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Resampler, Chunker, floatToInt16, int16ToFloat, levels } from "../../src/client/audio.js";

const tone = (hz: number, rate: number, seconds: number, amp = 0.5) => Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));

function resampleInPieces(input: Float32Array, from: number, to: number, piece = 128): Float32Array {
  const r = new Resampler(from, to);
  const parts: number[] = [];
  for (let i = 0; i < input.length; i += piece) parts.push(...r.push(input.subarray(i, i + piece)));
  return Float32Array.from(parts);
}

test("48 kHz -> 16 kHz keeps a speech-band tone and removes one that would alias", () => {
  const speech = resampleInPieces(tone(1000, 48000, 1), 48000, 16000);
  assert.ok(Math.abs(speech.length - 16000) < 40, `got ${speech.length} samples`);
  const mid = speech.subarray(1000, 15000);
  assert.ok(Math.abs(levels(mid).rms - 0.5 / Math.SQRT2) < 0.01, `rms ${levels(mid).rms}`);
  // 12 kHz is above the 8 kHz Nyquist of 16 kHz: plain decimation would fold it to 4 kHz at full level.
  const alias = resampleInPieces(tone(12000, 48000, 1), 48000, 16000).subarray(1000, 15000);
  assert.ok(levels(alias).rms < 0.01, `aliased rms ${levels(alias).rms}`);
});

test("44.1 kHz -> 16 kHz (fractional ratio) keeps length and level, whatever the block size", () => {
  const a = resampleInPieces(tone(440, 44100, 2), 44100, 16000, 128);
  const b = resampleInPieces(tone(440, 44100, 2), 44100, 16000, 1000);
  assert.ok(Math.abs(a.length - 32000) < 40);
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i += 997) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5);
  assert.ok(Math.abs(levels(a.subarray(2000, 30000)).rms - 0.5 / Math.SQRT2) < 0.01);
});

test("Chunker cuts exact 250 ms chunks and drains the rest; int16 conversion clips", () => {
  const c = new Chunker(4000);
  assert.equal(c.push(new Int16Array(3000)).length, 0);
  const out = c.push(new Int16Array(6000));
  assert.deepEqual(out.map((x) => x.length), [4000, 4000]);
  assert.equal(c.drain()?.length, 1000);
  assert.equal(c.drain(), null);
  assert.deepEqual([...floatToInt16(Float32Array.from([-2, -1, 0, 1, 2]))], [-32768, -32768, 0, 32767, 32767]);
  assert.ok(Math.abs(int16ToFloat(Int16Array.from([16384]))[0]! - 0.5) < 1e-6);
});
