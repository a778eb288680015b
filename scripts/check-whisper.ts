// Functional check of a Whisper ggml file: one offline decode of a WAV compared with its reference.
// Usage: node bin/run-ts.js scripts/check-whisper.ts MODEL WAV "reference text" [maxWordErrors]
// Prints "<errors> <hypothesis>" and exits 0 when errors <= maxWordErrors (default 1), 1 otherwise.
import { readWav } from "../src/audio/wav.js";
import { EmbeddedWhisperTranscriber } from "../src/stt/embedded.js";
import { errors, wordErrors } from "../bench/eval/wer.js";

const [model, wav, reference, max = "1"] = process.argv.slice(2);
if (!model || !wav || !reference) {
  console.error("usage: check-whisper.ts MODEL WAV REFERENCE [maxWordErrors]");
  process.exit(2);
}
const audio = readWav(wav);
if (audio.sampleRate !== 16000 || audio.channels !== 1) throw new Error(`${wav}: expected 16 kHz mono`);
const t = await EmbeddedWhisperTranscriber.create({ modelPath: model, threads: 2, audioCtx: "full" });
try {
  const r = await t.transcribe({ audio: audio.samples, language: "en" });
  const text = r.segments.map((s) => s.text.trim()).join(" ");
  const n = errors(wordErrors(reference, text));
  console.log(`${n} ${text}`);
  process.exitCode = n <= Number(max) ? 0 : 1;
} finally {
  await t.close();
}
