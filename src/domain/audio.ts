// Audio facts every module shares: what the speech path runs at and how PCM is laid out.

/** Sample rate of everything after ingest: VAD, windows, engines (Whisper's native rate). */
export const SAMPLE_RATE = 16000;

/** Bytes per sample of each raw PCM wire encoding. */
export const BYTES_PER_SAMPLE = { pcm_s16le: 2, pcm_f32le: 4 } as const;

/** Bytes per sample of decoded audio inside the server (mono float32). */
export const DECODED_BYTES_PER_SAMPLE = Float32Array.BYTES_PER_ELEMENT;
