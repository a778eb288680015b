// Opus in Ogg or WebM, as browsers' MediaRecorder and mobile SDKs produce it, -> 16 kHz mono
// float32. Each binary frame is the next piece of the container byte stream (page and block
// boundaries need not line up with frames). The containers are parsed here, with fixed bounds on
// every length a peer controls; the Opus packets are decoded by libopus compiled to WASM
// (`opus-decoder`, one decoder per session, no process per session).
//
// Every byte is hostile: a frame that cannot be parsed or decoded is skipped with a non-fatal
// `bad_audio` AudioFrameError and the parser resynchronises on the next page or cluster; only a
// stream that is well-formed but cannot be processed (not Opus, more than 2 channels) is fatal
// (`unsupported_audio`).
import { OpusDecoder } from "opus-decoder";
import { AudioFrameError } from "./errors.js";
import { SAMPLE_RATE } from "../domain/audio.js";
/**
 * Bytes of container data kept while waiting for the rest of a page or block. An Ogg page is at
 * most 65307 bytes; WebM blocks above MAX_PACKET_BYTES are refused anyway.
 */
export const MAX_PENDING_BYTES = 128 * 1024;
/** opus-decoder's input buffer is 3840 bytes per channel (120 ms at 256 kbit/s); larger packets are refused before it. */
export const MAX_PACKET_BYTES = 3840;
/** Bounded metadata elements (EBML header, Tracks) are read whole; above this they are refused. */
const MAX_METADATA_BYTES = 64 * 1024;

export interface OpusHead {
  channels: number;
  /** Samples at 48 kHz to drop at the start (encoder delay). */
  preSkip: number;
  inputRate: number;
  mappingFamily: number;
}

export function parseOpusHead(b: Uint8Array): OpusHead {
  // The stream's first packet decides what it is: anything but an OpusHead cannot be decoded here.
  if (b.length < 19 || String.fromCharCode(...b.subarray(0, 8)) !== "OpusHead") {
    const what = b.length >= 7 && b[0] === 1 && String.fromCharCode(...b.subarray(1, 7)) === "vorbis" ? "Vorbis" : "not Opus";
    throw new AudioFrameError("unsupported_audio", `the stream's first packet is no OpusHead (${what}): encoding opus takes Opus audio only`, true);
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = b[8]!;
  if (version >> 4 !== 0) throw new AudioFrameError("unsupported_audio", `OpusHead version ${version} is not supported`, true);
  const head = { channels: b[9]!, preSkip: v.getUint16(10, true), inputRate: v.getUint32(12, true), mappingFamily: b[18]! };
  if (head.channels < 1 || head.channels > 2 || head.mappingFamily > 1) {
    throw new AudioFrameError("unsupported_audio", `Opus with ${head.channels} channels (mapping family ${head.mappingFamily}): only mono or stereo is supported`, true);
  }
  return head;
}

/** Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 section 3.1); null if malformed. */
export function opusPacketSamples48k(p: Uint8Array): number | null {
  if (p.length < 1) return null;
  const toc = p[0]!;
  const config = toc >> 3;
  let frameTenthsMs: number;
  if (config < 12) frameTenthsMs = [100, 200, 400, 600][config & 3]!;
  else if (config < 16) frameTenthsMs = [100, 200][config & 1]!;
  else frameTenthsMs = [25, 50, 100, 200][config & 3]!;
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    if (p.length < 2) return null;
    frames = p[1]! & 0x3f;
    if (frames === 0) return null;
  }
  const samples = (frames * frameTenthsMs * 48) / 10;
  return samples > 5760 ? null : samples; // a packet is at most 120 ms
}

// ---- Ogg ---------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    // The checksum field (bytes 22-25) counts as zero.
    const byte = i >= 22 && i < 26 ? 0 : page[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  }
  return crc;
}

const OGGS = [0x4f, 0x67, 0x67, 0x53];

function indexOf(buf: Uint8Array, pattern: readonly number[], from: number): number {
  outer: for (let i = from; i + pattern.length <= buf.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

interface Demuxer {
  /** Appends container bytes; returns the complete Opus packets they finish, and problems met. */
  push(bytes: Uint8Array): { packets: Uint8Array[]; problems: string[] };
  head: OpusHead | null;
}

class OggDemuxer implements Demuxer {
  head: OpusHead | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private serial: number | null = null;
  private ended = false;
  private headerPackets = 0;
  private partial: Uint8Array[] = [];
  private partialBytes = 0;

  push(bytes: Uint8Array) {
    const packets: Uint8Array[] = [];
    const problems: string[] = [];
    this.buf = concat(this.buf, bytes);
    let at = 0;
    for (;;) {
      if (this.buf.length - at < 27) break;
      if (!startsWith(this.buf, at, OGGS)) {
        const next = indexOf(this.buf, OGGS, at + 1);
        problems.push("bytes outside an Ogg page skipped");
        at = next < 0 ? Math.max(at, this.buf.length - 3) : next;
        if (next < 0) break;
        continue;
      }
      const nsegs = this.buf[at + 26]!;
      const headerLen = 27 + nsegs;
      if (this.buf.length - at < headerLen) break;
      let bodyLen = 0;
      for (let i = 0; i < nsegs; i++) bodyLen += this.buf[at + 27 + i]!;
      if (this.buf.length - at < headerLen + bodyLen) break;
      const page = this.buf.subarray(at, at + headerLen + bodyLen);
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      if (page[4] !== 0 || view.getUint32(22, true) !== oggCrc(page)) {
        problems.push("Ogg page with a bad checksum skipped");
        at += 1; // resync: the next capture pattern
        this.dropPartial();
        continue;
      }
      at += page.length;
      this.onPage(page, view, nsegs, packets, problems);
    }
    this.buf = this.buf.slice(at);
    if (this.buf.length > MAX_PENDING_BYTES) {
      problems.push(`more than ${MAX_PENDING_BYTES} bytes without a complete Ogg page; dropped`);
      this.buf = new Uint8Array(0);
    }
    return { packets, problems };
  }

  private onPage(page: Uint8Array, view: DataView, nsegs: number, packets: Uint8Array[], problems: string[]) {
    const flags = page[5]!;
    const serial = view.getUint32(14, true);
    if (flags & 0x02 && (this.serial === null || this.ended)) {
      // The first logical stream, or the next one chained after it ended: it starts with its headers.
      this.serial = serial;
      this.head = null;
      this.ended = false;
      this.headerPackets = 0;
      this.dropPartial();
    }
    if (this.serial === null || serial !== this.serial) return; // another multiplexed stream
    if (flags & 0x04) this.ended = true;
    if (!(flags & 0x01)) this.dropPartial(); // a page that does not continue a packet
    let off = 27 + nsegs;
    for (let i = 0; i < nsegs; i++) {
      const len = page[27 + i]!;
      if (this.partialBytes + len <= MAX_PACKET_BYTES + 255) this.partial.push(page.subarray(off, off + len));
      this.partialBytes += len;
      off += len;
      if (len < 255) {
        const complete = this.partialBytes <= MAX_PACKET_BYTES + 255;
        const packet = complete ? concat(...this.partial) : null;
        const size = this.partialBytes;
        this.dropPartial();
        if (!packet) {
          problems.push(`Opus packet of ${size} bytes is larger than ${MAX_PACKET_BYTES}; skipped`);
          continue;
        }
        this.onPacket(packet, packets, problems);
      }
    }
  }

  private onPacket(packet: Uint8Array, packets: Uint8Array[], problems: string[]) {
    if (this.headerPackets === 0) {
      this.head = parseOpusHead(packet); // throws: without it nothing can be decoded
      this.headerPackets = 1;
    } else if (this.headerPackets === 1) {
      this.headerPackets = 2; // OpusTags: nothing the server needs
      if (!startsWith(packet, 0, [0x4f, 0x70, 0x75, 0x73, 0x54, 0x61, 0x67, 0x73])) problems.push("second Ogg packet is not OpusTags");
    } else packets.push(packet);
  }

  private dropPartial() {
    this.partial = [];
    this.partialBytes = 0;
  }
}

// ---- WebM (Matroska) -----------------------------------------------------------------------------

const ID = {
  ebml: 0x1a45dfa3,
  segment: 0x18538067,
  cluster: 0x1f43b675,
  blockGroup: 0xa0,
  block: 0xa1,
  simpleBlock: 0xa3,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackType: 0x83,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  docType: 0x4282,
} as const;
/** Masters whose children are read in place (their own size may be "unknown", as MediaRecorder writes them). */
const ENTERED = new Set<number>([ID.segment, ID.cluster, ID.blockGroup]);
/** Elements read whole (bounded) and interpreted. */
const READ_WHOLE = new Set<number>([ID.ebml, ID.tracks, ID.simpleBlock, ID.block]);
const CLUSTER_BYTES = [0x1f, 0x43, 0xb6, 0x75];

class WebmError extends Error {}

/** An EBML variable-length integer at `at`: its length and value (marker removed); null if more bytes are needed. */
function vint(buf: Uint8Array, at: number, keepMarker: boolean, maxLen: number): { len: number; value: number; unknown: boolean } | null {
  if (at >= buf.length) return null;
  const first = buf[at]!;
  let len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) len++;
  if (len > maxLen) throw new WebmError(`EBML number of ${len > 8 ? "more than 8" : len} bytes`);
  if (at + len > buf.length) return null;
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === (0xff >> len);
  for (let i = 1; i < len; i++) {
    const b = buf[at + i]!;
    if (b !== 0xff) allOnes = false;
    value = value * 256 + b; // exceeds 2^53 only for sizes the bounds below refuse anyway
  }
  return { len, value, unknown: !keepMarker && allOnes };
}

interface Element {
  id: number;
  headerLen: number;
  size: number | null; // null: unknown size
}

function readHeader(buf: Uint8Array, at: number): Element | null {
  const id = vint(buf, at, true, 4);
  if (!id) return null;
  const size = vint(buf, at + id.len, false, 8);
  if (!size) return null;
  return { id: id.value, headerLen: id.len + size.len, size: size.unknown ? null : size.value };
}

/** Children of a master element read whole: [id, payload] pairs. */
function children(body: Uint8Array): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let at = 0;
  while (at < body.length) {
    const h = readHeader(body, at);
    if (!h || h.size === null || at + h.headerLen + h.size > body.length) throw new WebmError("truncated element inside a master element");
    out.push([h.id, body.subarray(at + h.headerLen, at + h.headerLen + h.size)]);
    at += h.headerLen + h.size;
  }
  return out;
}

class WebmDemuxer implements Demuxer {
  head: OpusHead | null = null;
  private buf: Uint8Array = new Uint8Array(0);
  private skip = 0;
  private track: number | null = null;

  push(bytes: Uint8Array) {
    const packets: Uint8Array[] = [];
    const problems: string[] = [];
    let data = bytes;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
    }
    this.buf = concat(this.buf, data);
    let at = 0;
    while (at < this.buf.length) {
      let h: Element | null;
      try {
        h = readHeader(this.buf, at);
        if (!h) break;
        if (ENTERED.has(h.id)) {
          at += h.headerLen; // children follow in place
          continue;
        }
        if (h.size === null) throw new WebmError(`element 0x${h.id.toString(16)} of unknown size`);
        if (READ_WHOLE.has(h.id)) {
          const limit = h.id === ID.simpleBlock || h.id === ID.block ? MAX_PACKET_BYTES + 64 : MAX_METADATA_BYTES;
          if (h.size > limit) throw new WebmError(`element 0x${h.id.toString(16)} of ${h.size} bytes (limit ${limit})`);
          if (at + h.headerLen + h.size > this.buf.length) break;
          const body = this.buf.subarray(at + h.headerLen, at + h.headerLen + h.size);
          at += h.headerLen + h.size;
          this.onElement(h.id, body, packets, problems);
          continue;
        }
        // Anything else (SeekHead, Info, Cues, Tags, Void, Timecode...) is skipped, possibly across frames.
        const end = at + h.headerLen + h.size;
        if (end <= this.buf.length) at = end;
        else {
          this.skip = end - this.buf.length;
          at = this.buf.length;
        }
      } catch (e) {
        if (!(e instanceof WebmError)) throw e;
        problems.push(`${e.message}; skipped to the next cluster`);
        const next = indexOf(this.buf, CLUSTER_BYTES, at + 1);
        this.skip = 0;
        if (next < 0) {
          at = Math.max(at + 1, this.buf.length - 3);
          break;
        }
        at = next;
      }
    }
    this.buf = this.buf.slice(at);
    if (this.buf.length > MAX_PENDING_BYTES) {
      problems.push(`more than ${MAX_PENDING_BYTES} bytes without a complete WebM element; dropped`);
      this.buf = new Uint8Array(0);
    }
    return { packets, problems };
  }

  private onElement(id: number, body: Uint8Array, packets: Uint8Array[], problems: string[]) {
    if (id === ID.ebml) {
      for (const [cid, v] of children(body)) {
        if (cid === ID.docType) {
          const doc = new TextDecoder().decode(v).replace(/\0+$/, "");
          if (doc !== "webm" && doc !== "matroska") throw new AudioFrameError("unsupported_audio", `EBML document type "${doc}" is not WebM`, true);
        }
      }
      return;
    }
    if (id === ID.tracks) {
      if (this.head) return; // a repeated Tracks element changes nothing
      for (const [cid, entry] of children(body)) {
        if (cid !== ID.trackEntry) continue;
        let number: number | null = null;
        let codec = "";
        let priv: Uint8Array | null = null;
        for (const [fid, v] of children(entry)) {
          if (fid === ID.trackNumber) number = v.reduce((n, b) => n * 256 + b, 0);
          else if (fid === ID.codecId) codec = new TextDecoder().decode(v).replace(/\0+$/, "");
          else if (fid === ID.codecPrivate) priv = v;
        }
        if (codec === "A_OPUS" && number !== null && priv) {
          this.head = parseOpusHead(priv);
          this.track = number;
          return;
        }
      }
      throw new AudioFrameError("unsupported_audio", "the WebM stream has no Opus audio track (A_OPUS)", true);
    }
    // SimpleBlock / Block: track number, 16-bit timecode, flags, then the frame.
    if (this.track === null) {
      problems.push("WebM block before the track description; skipped");
      return;
    }
    const t = vint(body, 0, false, 8);
    if (!t || body.length < t.len + 3) throw new WebmError("truncated block");
    if (t.value !== this.track) return;
    const flags = body[t.len + 2]!;
    if (flags & 0x06) {
      problems.push("laced WebM blocks are not supported; skipped");
      return;
    }
    packets.push(body.slice(t.len + 3));
  }

}

// ---- the ingest --------------------------------------------------------------------------------

export interface OpusIngestOptions {
  /** Most audio one frame may complete (ms): a container page or cluster can straddle frames. */
  maxFrameAudioMs?: number;
}

export interface OpusIngest {
  readonly encoding: "opus";
  /** The container detected from the first bytes, once known. */
  readonly container: "ogg" | "webm" | null;
  /** Resolves when the WASM decoder is instantiated; decode() needs it. */
  readonly ready: Promise<void>;
  decode(frame: Buffer | Uint8Array): Float32Array;
  flush(): Float32Array;
  /** Seconds of audio decoded so far. */
  readonly receivedSeconds: number;
  /** Frees the decoder's WASM memory. */
  close(): void;
}

const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3];

export function createOpusIngest(opts: OpusIngestOptions = {}): OpusIngest {
  const maxFrameAudioMs = opts.maxFrameAudioMs ?? 2000;
  // A stereo decoder decodes mono and stereo packets alike; the channel count the stream declares
  // is only known from its first bytes, while the decoder must be ready before the first frame.
  const decoder = new OpusDecoder({ channels: 2, sampleRate: SAMPLE_RATE });
  let isReady = false;
  const ready = decoder.ready.then(() => {
    isReady = true;
  });
  let demuxer: Demuxer | null = null;
  let container: "ogg" | "webm" | null = null;
  let sniff: Uint8Array = new Uint8Array(0);
  let skipLeft = 0; // pre-skip samples (16 kHz) still to drop
  let headSeen: OpusHead | null = null;
  let decoded = 0;
  let closed = false;

  function decode(frame: Buffer | Uint8Array): Float32Array {
    if (!((frame as unknown) instanceof Uint8Array)) throw new AudioFrameError("bad_audio", "audio frames must be binary", false);
    if (closed) return new Float32Array(0);
    if (!isReady) throw new AudioFrameError("bad_audio", "the Opus decoder is not ready yet", false);
    if (frame.length === 0) return new Float32Array(0);
    let bytes: Uint8Array = frame;
    if (!demuxer) {
      sniff = concat(sniff, bytes);
      if (sniff.length < 4) return new Float32Array(0);
      container = startsWith(sniff, 0, OGGS) ? "ogg" : startsWith(sniff, 0, EBML_MAGIC) ? "webm" : null;
      if (container) demuxer = container === "ogg" ? new OggDemuxer() : new WebmDemuxer();
      else {
        sniff = new Uint8Array(0);
        throw new AudioFrameError("bad_audio", "encoding opus expects an Ogg (OggS) or WebM (EBML) stream; this frame starts with neither", false);
      }
      bytes = sniff;
      sniff = new Uint8Array(0);
    }
    const { packets, problems } = demuxer.push(bytes);
    if (demuxer.head && demuxer.head !== headSeen) {
      headSeen = demuxer.head;
      skipLeft = Math.round((headSeen.preSkip / 48000) * SAMPLE_RATE);
    }
    let samples48 = 0;
    const good: Uint8Array[] = [];
    let malformed = 0;
    for (const p of packets) {
      const n = p.length <= MAX_PACKET_BYTES ? opusPacketSamples48k(p) : null;
      if (n === null) malformed++;
      else {
        good.push(p);
        samples48 += n;
      }
    }
    if ((samples48 / 48000) * 1000 > maxFrameAudioMs) {
      throw new AudioFrameError("bad_audio", `frame completes ${Math.round(samples48 / 48)} ms of audio; at most ${maxFrameAudioMs} ms per frame (send every 250 ms)`, false);
    }
    const out: Float32Array[] = [];
    let total = 0;
    let failed = 0;
    // libopus errors are reported here as bad_audio; opus-decoder would also print each one to
    // the console, which a peer could use to flood the server's output.
    const consoleError = console.error;
    console.error = () => {};
    try {
      for (const p of good) {
        const r = decoder.decodeFrame(p);
        if (r.errors.length > 0 || r.samplesDecoded === 0) {
          failed++;
          continue;
        }
        const [l, rgt] = r.channelData as [Float32Array, Float32Array];
        const mono = new Float32Array(r.samplesDecoded);
        for (let i = 0; i < mono.length; i++) mono[i] = (l[i]! + rgt[i]!) / 2;
        out.push(mono);
        total += mono.length;
      }
    } finally {
      console.error = consoleError;
    }
    let pcm = concatF32(out, total);
    if (skipLeft > 0 && pcm.length > 0) {
      const n = Math.min(skipLeft, pcm.length);
      skipLeft -= n;
      pcm = pcm.subarray(n);
    }
    decoded += pcm.length;
    const issues = [...problems];
    if (malformed) issues.push(`${malformed} malformed Opus packet(s)`);
    if (failed) issues.push(`${failed} Opus packet(s) failed to decode`);
    if (issues.length > 0) {
      // As for PCM, a frame is one unit: the whole of it is skipped, the decoder carries on.
      throw new AudioFrameError("bad_audio", `bad Opus data: ${[...new Set(issues)].join("; ")}`, false);
    }
    return pcm;
  }

  return {
    encoding: "opus",
    get container() {
      return container;
    },
    ready,
    decode,
    flush: () => new Float32Array(0),
    get receivedSeconds() {
      return decoded / SAMPLE_RATE;
    },
    close() {
      if (closed) return;
      closed = true;
      // free() before the WASM instance exists would throw; after ready it releases its memory.
      // A failed start (rejected `ready`) left nothing to free; a throwing free() is a dead WASM
      // instance whose memory goes with it. Neither may become an unhandled rejection.
      ready
        .then(() => decoder.free())
        .catch(() => undefined);
    },
  };
}

/**
 * Parses a whole Ogg/Opus or WebM/Opus file without decoding: the duration (s) from the packets'
 * TOC bytes, the packet count and the container. For clients that pace a file at real time.
 */
export function probeOpusFile(bytes: Uint8Array): { container: "ogg" | "webm"; seconds: number; packets: number; channels: number } {
  const container = startsWith(bytes, 0, OGGS) ? "ogg" : startsWith(bytes, 0, EBML_MAGIC) ? "webm" : null;
  if (!container) throw new AudioFrameError("unsupported_audio", "not an Ogg or WebM file", true);
  const d: Demuxer = container === "ogg" ? new OggDemuxer() : new WebmDemuxer();
  let samples = 0;
  let count = 0;
  for (let at = 0; at < bytes.length; at += 65536) {
    const { packets } = d.push(bytes.subarray(at, at + 65536));
    for (const p of packets) {
      samples += opusPacketSamples48k(p) ?? 0;
      count++;
    }
  }
  if (!d.head) throw new AudioFrameError("unsupported_audio", `no Opus header found in the ${container} file`, true);
  return { container, seconds: samples / 48000, packets: count, channels: d.head.channels };
}

// ---- bytes -------------------------------------------------------------------------------------

function startsWith(buf: Uint8Array, at: number, pattern: readonly number[]): boolean {
  if (buf.length - at < pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) if (buf[at + i] !== pattern[i]) return false;
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const nonEmpty = parts.filter((p) => p.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  const out = new Uint8Array(nonEmpty.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of nonEmpty) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function concatF32(parts: Float32Array[], total: number): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The opus ingest behind the AudioIngest interface of ingest.ts (the session's view of any encoding). */
export function createOpusAudioIngest(opts: { maxFrameMs?: number } = {}) {
  const ing = createOpusIngest({ maxFrameAudioMs: 2 * (opts.maxFrameMs ?? 1000) });
  return {
    encoding: "opus" as const,
    sampleRate: 48000, // Opus' own clock; decoded straight to 16 kHz
    channels: 1,
    maxFrameBytes: MAX_PENDING_BYTES,
    ready: ing.ready,
    decode: (frame: Buffer) => ing.decode(frame),
    flush: () => ing.flush(),
    get receivedSeconds() {
      return ing.receivedSeconds;
    },
    close: () => ing.close(),
  };
}
