export { AudioFrameError, type AudioErrorCode } from "./errors.js";
export { Resampler, type ResamplerOptions } from "./resampler.js";
export { createAudioIngest, type AudioIngest, type AudioIngestOptions } from "./ingest.js";
export { EnergyVad, VAD_FRAME_SAMPLES, type EnergyVadOptions, type VadFrame } from "./vad.js";
export { parseWav, readWav, encodeWav16k, type WavData } from "./wav.js";
