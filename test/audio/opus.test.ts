// Opus input (issue 15): Ogg/Opus and WebM/Opus, as ffmpeg's libopus writes them, decode to the
// same 16 kHz audio as the WAV they were made from; the containers are parsed with bounds; corrupt
// or hostile bytes give bad_audio (or unsupported_audio for a well-formed non-Opus stream), never
// another exception. Fixtures are made at test time with ffmpeg (tests only; the server never
// runs it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { createOpusIngest, probeOpusFile, opusPacketSamples48k, MAX_PENDING_BYTES } from "../../src/audio/opus.js";
import { createAudioIngest } from "../../src/audio/ingest.js";
import { AudioFrameError } from "../../src/audio/errors.js";
import { readWav } from "../../src/audio/wav.js";
import { AUDIO_DIR } from "../helpers/models.js";
import { tempDir } from "../helpers/gateway.js";

const WAV = join(AUDIO_DIR, "jfk.wav");

function encode(dir: string, name: string, args: string[], input = WAV): Buffer {
  const out = join(dir, name);
  execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", input, ...args, out]);
  return readFileSync(out);
}

function fixtures() {
  const dir = tempDir();
  return {
    ogg: encode(dir, "jfk.ogg", ["-c:a", "libopus", "-b:a", "24k"]),
    webm: encode(dir, "jfk.webm", ["-c:a", "libopus", "-b:a", "24k"]),
    stereo: encode(dir, "stereo.ogg", ["-ac", "2", "-ar", "48000", "-c:a", "libopus", "-b:a", "48k"]),
    vorbis: encode(dir, "jfk-vorbis.ogg", ["-c:a", "libvorbis"]),
    webmVorbis: encode(dir, "jfk-vorbis.webm", ["-c:a", "libvorbis"]),
  };
}

/** Feeds `bytes` in pieces of `size`, collecting audio and the typed errors. */
function feed(ing: ReturnType<typeof createOpusIngest>, bytes: Uint8Array, size: number) {
  const parts: Float32Array[] = [];
  const errors: AudioFrameError[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    try {
      parts.push(ing.decode(bytes.subarray(at, at + size)));
    } catch (e) {
      if (!(e instanceof AudioFrameError)) throw e;
      errors.push(e);
    }
  }
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return { audio: out, errors };
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < n; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

test("Ogg/Opus, WebM/Opus and stereo Ogg decode to the WAV's audio, in 250 ms pieces", async () => {
  const fx = fixtures();
  const ref = readWav(WAV).samples;
  // 24 kbit/s = 3000 bytes/s: 750-byte frames are what a client sends every 250 ms.
  for (const [name, bytes, size] of [["ogg", fx.ogg, 750], ["webm", fx.webm, 750], ["stereo", fx.stereo, 1500]] as const) {
    const ing = createOpusIngest();
    await ing.ready;
    const { audio, errors } = feed(ing, bytes, size);
    assert.deepEqual(errors, [], name);
    assert.equal(ing.container, name === "webm" ? "webm" : "ogg");
    // Pre-skip removed: the decoded audio starts where the WAV starts and is as long (to 20 ms).
    assert.ok(Math.abs(audio.length - ref.length) <= 320 + 0.02 * 16000, `${name}: ${audio.length} vs ${ref.length} samples`);
    const r = correlation(audio, ref);
    assert.ok(r > 0.9, `${name}: correlation with the WAV ${r.toFixed(3)}`);
    assert.ok(Math.abs(ing.receivedSeconds - audio.length / 16000) < 1e-9);
    ing.close();
    assert.equal(ing.decode(bytes.subarray(0, 100)).length, 0, "a closed ingest takes nothing");
  }
  // Whole file in one piece and byte by byte: the same audio, whatever the frame boundaries.
  const whole = createOpusIngest({ maxFrameAudioMs: 60_000 });
  await whole.ready;
  const one = feed(whole, fx.ogg, fx.ogg.length).audio;
  const bytewise = createOpusIngest();
  await bytewise.ready;
  const many = feed(bytewise, fx.ogg, 97).audio;
  assert.equal(one.length, many.length);
  assert.ok(correlation(one, many) > 0.9999);
  whole.close();
  bytewise.close();
});

test("chained Ogg streams (one file after another) decode in turn; a multiplexed second stream is ignored", async () => {
  const fx = fixtures();
  const ing = createOpusIngest();
  await ing.ready;
  // ffmpeg picks a new serial per file: the second file is a chained stream after the first's EOS.
  const { audio, errors } = feed(ing, Buffer.concat([fx.ogg, fx.stereo]), 750);
  assert.deepEqual(errors.map((e) => e.message), []);
  assert.ok(Math.abs(audio.length / 16000 - 22) < 0.1, `${audio.length / 16000} s`);
  ing.close();
  // Multiplexed: the other stream's pages interleaved with the first one's are not decoded.
  const a = oggPages(fx.ogg);
  // A stream of another length (2.1 s), so following the wrong one shows in the decoded duration.
  const b = oggPages(encode(tempDir(), "short.ogg", ["-c:a", "libopus", "-b:a", "24k"], join(AUDIO_DIR, "librispeech-7902-96591-0000.wav")));
  const mixed: Buffer[] = [a[0]!, b[0]!];
  for (let i = 1; i < Math.max(a.length, b.length); i++) mixed.push(...(a[i] ? [a[i]!] : []), ...(b[i] ? [b[i]!] : []));
  const mux = createOpusIngest();
  await mux.ready;
  const m = feed(mux, Buffer.concat(mixed), 750);
  assert.deepEqual(m.errors.map((e) => e.message), []);
  assert.ok(Math.abs(m.audio.length / 16000 - 11) < 0.1, `${m.audio.length / 16000} s: only the first stream`);
  mux.close();
});

/** An Ogg file cut into its pages. */
function oggPages(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b[at + 26]!;
    let len = 27 + n;
    for (let i = 0; i < n; i++) len += b[at + 27 + i]!;
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return out;
}

test("probeOpusFile gives container, duration and channels without decoding", () => {
  const fx = fixtures();
  const o = probeOpusFile(fx.ogg);
  assert.equal(o.container, "ogg");
  assert.ok(Math.abs(o.seconds - 11) < 0.1, String(o.seconds));
  assert.equal(o.channels, 1);
  const w = probeOpusFile(fx.webm);
  assert.equal(w.container, "webm");
  assert.ok(Math.abs(w.seconds - 11) < 0.1);
  assert.equal(probeOpusFile(fx.stereo).channels, 2);
  assert.throws(() => probeOpusFile(Buffer.from("RIFF....WAVE")), (e: unknown) => e instanceof AudioFrameError && e.code === "unsupported_audio");
});

test("well-formed streams that are not Opus are unsupported_audio (fatal); junk before the stream is bad_audio", async () => {
  const fx = fixtures();
  for (const bytes of [fx.vorbis, fx.webmVorbis]) {
    const ing = createOpusIngest();
    await ing.ready;
    const { errors } = feed(ing, bytes, 750);
    assert.ok(errors.length > 0 && errors[0]!.code === "unsupported_audio" && errors[0]!.fatal, errors.map((e) => e.message).join("; "));
    ing.close();
  }
  // A WAV header sent as opus: skipped, non-fatal; the real stream after it is decoded.
  const ing = createOpusIngest();
  await ing.ready;
  assert.throws(() => ing.decode(readFileSync(WAV).subarray(0, 1000)), (e: unknown) => e instanceof AudioFrameError && e.code === "bad_audio" && !e.fatal);
  const { audio, errors } = feed(ing, fx.ogg, 750);
  assert.deepEqual(errors, []);
  assert.ok(audio.length > 10 * 16000);
  ing.close();
});

test("TOC durations: RFC 6716 frame sizes and counts; malformed packets are null", () => {
  assert.equal(opusPacketSamples48k(Uint8Array.of(0)), 480); // SILK 10 ms, one frame
  assert.equal(opusPacketSamples48k(Uint8Array.of((31 << 3) | 0)), 960); // CELT 20 ms, one frame
  assert.equal(opusPacketSamples48k(Uint8Array.of((3 << 3) | 1)), 5760); // SILK 60 ms x2
  assert.equal(opusPacketSamples48k(Uint8Array.of((16 << 3) | 3, 4)), 480); // CELT 2.5 ms x4
  assert.equal(opusPacketSamples48k(Uint8Array.of((3 << 3) | 3, 3)), null); // 180 ms > 120 ms
  assert.equal(opusPacketSamples48k(Uint8Array.of((16 << 3) | 3)), null); // code 3 without a count
  assert.equal(opusPacketSamples48k(new Uint8Array(0)), null);
});

test("a frame completing more audio than the bound is skipped with bad_audio, and decoding goes on", async () => {
  const fx = fixtures();
  const ing = createOpusIngest({ maxFrameAudioMs: 2000 });
  await ing.ready;
  assert.throws(() => ing.decode(fx.ogg), (e: unknown) => e instanceof AudioFrameError && e.code === "bad_audio" && /at most 2000 ms/.test(e.message));
  ing.close();
});

test("the PCM ingest entry point hands opus to the Opus ingest", async () => {
  const fx = fixtures();
  const ing = createAudioIngest({ encoding: "opus", sample_rate: 16000, channels: 1 });
  await ing.ready;
  let n = 0;
  for (let at = 0; at < fx.webm.length; at += 750) n += ing.decode(fx.webm.subarray(at, at + 750)).length;
  assert.ok(n > 10.5 * 16000);
  ing.close?.();
});

// Generated hostile input: mutations of real streams (flipped, dropped, inserted and repeated
// bytes, truncation) and pure noise. Every frame either decodes or raises an AudioFrameError;
// nothing else escapes, the parser's buffer stays bounded, and a clean stream after the damage
// (a new ingest) still decodes. Fixed seed: a failure is reproducible.
test("corrupt Opus never throws anything but AudioFrameError (fast-check, fixed seed)", async () => {
  const fx = fixtures();
  const sources = [fx.ogg, fx.webm];
  const mutation = fc.record({
    source: fc.integer({ min: 0, max: 1 }),
    edits: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant("drop" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 400 }) }),
        fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 300 }) }),
        fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 3000 }) }),
      ),
      { minLength: 1, maxLength: 12 },
    ),
    truncate: fc.option(fc.nat(), { nil: undefined }),
    frame: fc.integer({ min: 1, max: 4000 }),
  });
  let frames = 0;
  let badAudio = 0;
  await fc.assert(
    fc.asyncProperty(mutation, async ({ source, edits, truncate, frame }) => {
      let b = Buffer.from(sources[source]!);
      for (const e of edits) {
        const at = e.at % Math.max(1, b.length);
        if (e.kind === "flip") b[at] = e.value;
        else if (e.kind === "drop") b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
        else if (e.kind === "insert") b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at)]);
      }
      if (truncate !== undefined) b = b.subarray(0, truncate % Math.max(1, b.length));
      const ing = createOpusIngest();
      await ing.ready;
      try {
        for (let at = 0; at < b.length; at += frame) {
          frames++;
          try {
            const out = ing.decode(b.subarray(at, at + frame));
            for (let i = 0; i < out.length; i += 97) assert.ok(Number.isFinite(out[i]!));
          } catch (e) {
            if (!(e instanceof AudioFrameError)) throw e;
            if (e.code === "unsupported_audio") {
              assert.equal(e.fatal, true);
              return; // the session closes here: nothing more is fed
            }
            assert.equal(e.code, "bad_audio");
            badAudio++;
          }
        }
      } finally {
        ing.close();
      }
    }),
    { seed: 15, numRuns: 120 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3 * MAX_PENDING_BYTES }), fc.integer({ min: 1, max: 70_000 }), async (noise, frame) => {
      const ing = createOpusIngest();
      await ing.ready;
      try {
        // Noise that happens to start like a container header still never escapes as another error.
        const withHeader = Buffer.concat([Buffer.from(frame % 2 ? "OggS" : "\x1a\x45\xdf\xa3", "latin1"), noise]);
        for (let at = 0; at < withHeader.length; at += frame) {
          try {
            ing.decode(withHeader.subarray(at, at + frame));
          } catch (e) {
            if (!(e instanceof AudioFrameError)) throw e;
            if (e.fatal) return;
          }
        }
      } finally {
        ing.close();
      }
    }),
    { seed: 1515, numRuns: 60 },
  );
  assert.ok(frames > 100 && badAudio > 0, `${frames} frames, ${badAudio} bad_audio`);
});
