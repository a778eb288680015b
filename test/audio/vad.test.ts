import { test } from "node:test";
import assert from "node:assert/strict";
import { EnergyVad, readWav } from "../../src/audio/index.js";

const AUDIO = process.env.PARLANCE_AUDIO_DIR ?? "../shared/audio";
function speechFrames(file: string): number {
  const vad = new EnergyVad();
  const { samples } = readWav(`${AUDIO}/${file}`);
  let n = 0;
  for (let i = 0; i < samples.length; i += 4000) n += vad.push(samples.subarray(i, i + 4000)).filter((f) => f.speech).length;
  return n;
}

test("60 s of digital silence has no speech frame", () => {
  assert.equal(speechFrames("silence-60s.wav"), 0);
});

test("60 s of low pink noise has no speech frame", () => {
  assert.equal(speechFrames("pink-noise-60s-low.wav"), 0);
});

test("jfk.wav is mostly speech, with pauses", () => {
  const n = speechFrames("jfk.wav"); // 550 frames of 20 ms
  assert.ok(n > 200 && n < 530, `speech frames ${n}`);
});

test("the noise floor follows a steady noise level", () => {
  const vad = new EnergyVad();
  const noise = Float32Array.from({ length: 16000 * 3 }, () => (Math.random() - 0.5) * 0.02);
  vad.push(noise);
  assert.ok(vad.noiseFloorDb > -50 && vad.noiseFloorDb < -40, `floor ${vad.noiseFloorDb}`);
});
