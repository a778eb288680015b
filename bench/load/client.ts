// One load-generating connection: TLS + WebSocket upgrade, auth, real-time audio at a fixed
// 250 ms cadence, `end`, and a record of everything the server said and when.
import WebSocket from "ws";

export type Outcome =
  | "pending"
  | "refused_upgrade" // HTTP 429/503 before the upgrade (connection caps)
  | "busy" // `busy` + close 1013: admission control
  | "completed" // streamed, sent `end`, got `ended`
  | "failed"; // anything else: an error for the report

interface Msg {
  type: string;
  seq?: number;
  lag_ms?: number;
  segment_id?: number;
  text?: string;
  reason?: string;
  code?: string;
  fatal?: boolean;
  session_id?: string;
  segments?: number;
  retry_after_ms?: number;
  [k: string]: unknown;
}

export interface ClientOptions {
  url: string;
  ca: string;
  token: string;
  /** 8000-byte chunks are cut from this PCM loop, starting at `offset`. */
  pcm: Buffer;
  offset: number;
  chunkBytes: number;
  chunks: number;
  chunkMs: number;
  /** Delay before the first chunk after `ready`, spreading clients across the 250 ms tick. */
  phaseMs: number;
  pingEveryMs: number;
  endTimeoutMs: number;
  closeTimeoutMs: number;
  /** Clock shared with the sampler (ms). */
  now: () => number;
}

export class LoadClient {
  outcome: Outcome = "pending";
  failure: string | null = null;
  sessionId: string | null = null;
  readonly counts: Record<string, number> = {};
  readonly errors: { code: string; fatal: boolean; message: string }[] = [];
  /** Final segments as received: segment_id -> text. */
  readonly finals = new Map<number, string>();
  duplicateFinals = 0;
  readonly lags: number[] = [];
  /** Event latency estimates (ms): lag_ms of the event + the latest ping RTT of this connection. */
  readonly latencies: number[] = [];
  readonly partialTimes: number[] = [];
  readonly rtts: number[] = [];
  /** How late each chunk left against its schedule (ms): the load generator's own jitter. */
  readonly sendLate: number[] = [];
  seqErrors = 0;
  tConnect = 0;
  tReady: number | null = null;
  tVerdict: number | null = null;
  tEndSent: number | null = null;
  tEnded: number | null = null;
  tClosed: number | null = null;
  endedSegments: number | null = null;
  closeCode: number | null = null;
  chunksSent = 0;
  retryAfterMs: number | null = null;
  private ws: WebSocket | null = null;
  private nextSeq = 0;
  private lastRtt = 0;
  private pingAt: number | null = null;
  private timers: NodeJS.Timeout[] = [];
  private settle!: () => void;
  /** Resolves when the connection is over (closed, or given up on). */
  readonly done: Promise<void>;
  /** Resolves once the server's verdict on auth is in (ready, busy, error or close). */
  readonly verdict: Promise<void>;
  private settleVerdict!: () => void;

  constructor(private readonly o: ClientOptions) {
    this.done = new Promise((r) => (this.settle = r));
    this.verdict = new Promise((r) => (this.settleVerdict = () => {
      this.tVerdict ??= this.o.now();
      r();
    }));
  }

  start(): void {
    const o = this.o;
    this.tConnect = o.now();
    const ws = new WebSocket(o.url, { ca: o.ca, perMessageDeflate: false, handshakeTimeout: 30_000 });
    this.ws = ws;
    ws.on("unexpected-response", (_req, res) => {
      this.outcome = "refused_upgrade";
      this.failure = `upgrade refused: HTTP ${res.statusCode}`;
      res.resume();
      this.ws?.terminate(); // with this listener set, ws leaves aborting the handshake to us
      this.finish();
    });
    ws.on("open", () => ws.send(JSON.stringify({ type: "auth", token: o.token, config: { encoding: "pcm_s16le", sample_rate: 16000, channels: 1, language: "en" } })));
    ws.on("message", (data, isBinary) => {
      if (isBinary) return this.fail("server sent a binary frame");
      let m: Msg;
      try {
        m = JSON.parse(String(data)) as Msg;
      } catch {
        return this.fail("server sent invalid JSON");
      }
      this.onMessage(m);
    });
    ws.on("pong", () => {
      if (this.pingAt !== null) {
        this.lastRtt = o.now() - this.pingAt;
        this.rtts.push(this.lastRtt);
        this.pingAt = null;
      }
    });
    ws.on("error", (err) => {
      if (this.outcome === "pending" || this.outcome === "completed") this.failure ??= `socket error: ${err.message}`;
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      this.tClosed = o.now();
      this.finish();
    });
  }

  private onMessage(m: Msg) {
    const o = this.o;
    const t = o.now();
    this.counts[m.type] = (this.counts[m.type] ?? 0) + 1;
    if (typeof m.seq === "number") {
      // Per-session counter from 0 at `ready`: a gap or repeat means a message was lost or doubled.
      if (m.seq !== this.nextSeq) this.seqErrors++;
      this.nextSeq = m.seq + 1;
    }
    if (typeof m.lag_ms === "number" && (m.type === "partial" || m.type === "final")) {
      this.lags.push(m.lag_ms);
      this.latencies.push(m.lag_ms + this.lastRtt);
    }
    switch (m.type) {
      case "ready":
        this.tReady = t;
        this.sessionId = m.session_id ?? null;
        this.settleVerdict();
        this.stream();
        return;
      case "busy":
        this.outcome = "busy";
        this.retryAfterMs = m.retry_after_ms ?? null;
        this.settleVerdict();
        return;
      case "partial":
        this.partialTimes.push(t);
        return;
      case "final":
        if (this.finals.has(m.segment_id!)) this.duplicateFinals++;
        this.finals.set(m.segment_id!, m.text ?? "");
        return;
      case "ended":
        this.tEnded = t;
        this.endedSegments = m.segments ?? null;
        return;
      case "error":
        this.errors.push({ code: m.code ?? "?", fatal: Boolean(m.fatal), message: String(m.message ?? "") });
        if (m.code === "server_busy") return;
        if (m.fatal) this.failure ??= `fatal error ${m.code}: ${String(m.message ?? "")}`;
        this.settleVerdict();
        return;
    }
  }

  private stream() {
    const o = this.o;
    const ws = this.ws!;
    const t0 = o.now() + o.phaseMs;
    const tick = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const k = this.chunksSent;
      if (k >= o.chunks) return this.sendEnd();
      this.sendLate.push(Math.max(0, o.now() - (t0 + k * o.chunkMs)));
      const start = (o.offset + k * o.chunkBytes) % o.pcm.length;
      // The loop wraps inside a chunk at most once; copy so the send never aliases the loop.
      const end = start + o.chunkBytes;
      const chunk = end <= o.pcm.length ? o.pcm.subarray(start, end) : Buffer.concat([o.pcm.subarray(start), o.pcm.subarray(0, end - o.pcm.length)]);
      ws.send(chunk);
      this.chunksSent++;
      this.timers.push(setTimeout(tick, Math.max(0, t0 + this.chunksSent * o.chunkMs - o.now())));
    };
    this.timers.push(setTimeout(tick, o.phaseMs));
    const ping = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN || this.pingAt !== null) return;
      this.pingAt = o.now();
      ws.ping();
    }, o.pingEveryMs);
    this.timers.push(ping);
  }

  private sendEnd() {
    const o = this.o;
    this.tEndSent = o.now();
    this.ws!.send(JSON.stringify({ type: "end" }));
    // Bounded: `ended` must come within endTimeoutMs, the close (after the report) within closeTimeoutMs more.
    this.timers.push(
      setTimeout(() => {
        if (this.tEnded === null) this.fail(`no ended within ${o.endTimeoutMs} ms of end`);
      }, o.endTimeoutMs),
      setTimeout(() => {
        if (this.tClosed === null) this.fail(`no close within ${o.endTimeoutMs + o.closeTimeoutMs} ms of end`);
      }, o.endTimeoutMs + o.closeTimeoutMs),
    );
  }

  /** Wall-clock ms when the bench gave up on this connection (a timeout), if it did. */
  gaveUpAt: number | null = null;

  /** Gives up on this connection (hard deadline or protocol trouble) and records why. */
  fail(why: string) {
    this.failure ??= why;
    this.gaveUpAt ??= Date.now();
    this.ws?.terminate();
    this.finish();
  }

  private finish() {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.outcome === "pending") {
      if (this.tEnded !== null && this.failure === null && this.closeCode === 1000) this.outcome = "completed";
      else {
        this.outcome = "failed";
        this.failure ??= this.tReady === null ? `closed ${this.closeCode} before ready` : `closed ${this.closeCode} before ended`;
      }
    } else if (this.outcome === "busy" && this.closeCode !== null && this.closeCode !== 1013) {
      this.failure ??= `busy, then close ${this.closeCode} instead of 1013`;
    }
    this.settleVerdict();
    this.settle();
  }
}
