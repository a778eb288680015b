import { test } from "node:test";
import assert from "node:assert/strict";
import { Resampler } from "../../src/audio/resampler.js";

function tone(freq: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));
}
/** Amplitude of one frequency (Goertzel), on the steady middle of the signal. */
function amplitudeAt(x: Float32Array, freq: number, rate: number): number {
  const a = x.subarray(Math.floor(x.length * 0.1), Math.floor(x.length * 0.9));
  let re = 0;
  let im = 0;
  for (let i = 0; i < a.length; i++) {
    re += a[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im -= a[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / a.length;
}
function inChunks(r: Resampler, x: Float32Array, chunk: number): Float32Array {
  const parts: Float32Array[] = [];
  for (let i = 0; i < x.length; i += chunk) parts.push(r.process(x.subarray(i, i + chunk)));
  parts.push(r.flush());
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}
const db = (a: number, ref: number) => 20 * Math.log10(a / ref);

test("48 kHz -> 16 kHz keeps a 1 kHz tone at its level and the right length", () => {
  const out = inChunks(new Resampler(48000, 16000), tone(1000, 48000, 1), 12000);
  assert.equal(out.length, 16000);
  const a = amplitudeAt(out, 1000, 16000);
  assert.ok(Math.abs(db(a, 0.5)) < 0.1, `1 kHz level ${db(a, 0.5).toFixed(3)} dB`);
});

test("48 kHz -> 16 kHz rejects a 12 kHz tone instead of aliasing it to 4 kHz", () => {
  const out = inChunks(new Resampler(48000, 16000), tone(12000, 48000, 1), 12000);
  const alias = amplitudeAt(out, 4000, 16000);
  assert.ok(db(alias, 0.5) < -60, `alias at 4 kHz only ${db(alias, 0.5).toFixed(1)} dB down`);
});

test("44.1 kHz -> 16 kHz passes 3 kHz and rejects 10 kHz (alias 6 kHz)", () => {
  const r1 = inChunks(new Resampler(44100, 16000), tone(3000, 44100, 1), 11025);
  assert.ok(Math.abs(db(amplitudeAt(r1, 3000, 16000), 0.5)) < 0.1);
  const r2 = inChunks(new Resampler(44100, 16000), tone(10000, 44100, 1), 11025);
  assert.ok(db(amplitudeAt(r2, 6000, 16000), 0.5) < -60);
});

test("8 kHz -> 16 kHz upsamples without an image at 7 kHz", () => {
  const out = inChunks(new Resampler(8000, 16000), tone(1000, 8000, 1), 2000);
  assert.equal(out.length, 16000);
  assert.ok(Math.abs(db(amplitudeAt(out, 1000, 16000), 0.5)) < 0.1);
  assert.ok(db(amplitudeAt(out, 7000, 16000), 0.5) < -60, "image at 7 kHz");
});

test("streaming in uneven chunks gives the same samples as one call", () => {
  const x = tone(440, 22050, 0.5);
  const whole = inChunks(new Resampler(22050, 16000), x, x.length);
  const parts = inChunks(new Resampler(22050, 16000), x, 777);
  assert.equal(parts.length, whole.length);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(parts[i]! - whole[i]!) < 1e-6, `sample ${i}`);
});

test("16 kHz in is passed through untouched", () => {
  const x = tone(440, 16000, 0.1);
  assert.deepEqual(new Resampler(16000, 16000).process(x), x);
});
