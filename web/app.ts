// The practice page: microphone -> AudioWorklet (16 kHz mono s16, 250 ms) -> SDK session over
// wss -> live transcript; on stop, the report. All protocol handling lives in the SDK.
import {
  connectWithRetry,
  isRetryable,
  AuthFailedError,
  ServerBusyError,
  ConnectionClosedError,
  AbortedError,
  ServerError,
  ServiceUnavailableError,
  type ParlanceSession,
} from "../src/client/index.js";
import { renderReport } from "./report.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  form: $<HTMLFormElement>("controls"),
  token: $<HTMLInputElement>("token"),
  tokenToggle: $<HTMLButtonElement>("token-toggle"),
  tokenHint: $<HTMLParagraphElement>("token-hint"),
  task: $<HTMLInputElement>("task"),
  encoding: $<HTMLSelectElement>("encoding"),
  encodingHint: $<HTMLParagraphElement>("encoding-hint"),
  start: $<HTMLButtonElement>("start"),
  stop: $<HTMLButtonElement>("stop"),
  message: $<HTMLDivElement>("message"),
  reconnect: $<HTMLButtonElement>("reconnect"),
  status: $<HTMLSpanElement>("status"),
  level: $<HTMLMeterElement>("level"),
  lag: $<HTMLSpanElement>("lag"),
  committed: $<HTMLSpanElement>("committed"),
  partial: $<HTMLSpanElement>("partial"),
  report: $<HTMLElement>("report"),
  reportBody: $<HTMLDivElement>("report-body"),
};

const STREAM_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;
const MAX_BACKLOG_CHUNKS = 40; // 10 s of audio kept while reconnecting
const OPUS_MIME = "audio/webm;codecs=opus";
const OPUS_BITS_PER_SECOND = 24000;

type State = "idle" | "connecting" | "streaming" | "reconnecting" | "analysing" | "done" | "error";

interface Capture {
  ctx: AudioContext;
  stream: MediaStream;
  node: AudioWorkletNode;
  /** Opus: a new session needs a new WebM stream (its header first), so the recorder restarts. */
  restartRecorder(): void;
  stop(): Promise<void>;
}

type Encoding = "pcm_s16le" | "opus";
let encoding: Encoding = "pcm_s16le";

let state: State = "idle";
let session: ParlanceSession | null = null;
let capture: Capture | null = null;
let backlog: ArrayBuffer[] = [];
let stopping = false;
let abort: AbortController | null = null;

function setState(s: State, label?: string) {
  state = s;
  ui.status.dataset.state = s;
  ui.status.textContent = label ?? { idle: "Idle", connecting: "Connecting…", streaming: "Listening", reconnecting: "Reconnecting…", analysing: "Analysing…", done: "Done", error: "Stopped" }[s];
  ui.start.disabled = !(s === "idle" || s === "done" || s === "error");
  ui.stop.disabled = !(s === "streaming" || s === "reconnecting");
  ui.token.disabled = ui.task.disabled = ui.encoding.disabled = !ui.start.disabled ? false : true;
}

function showMessage(text: string | null, kind: "error" | "info" = "error") {
  ui.message.hidden = !text;
  ui.message.textContent = text ?? "";
  ui.message.dataset.kind = kind;
  if (text) ui.message.dataset.shown = String(Date.now());
}

function describe(err: unknown): string {
  if (err instanceof ServiceUnavailableError)
    return err.code === "stt_unavailable"
      ? "Speech recognition is not set up on this server yet. Whoever runs it needs to download a speech model (`parlance models pull tiny.en`) and restart it; trying again before that will not help."
      : `The server cannot take sessions right now (${err.code}); trying again will not help until it is fixed.`;
  if (err instanceof AuthFailedError) return err.code === "token_expired" ? "Your token has expired. Get a new one and press Start again." : "The server refused this token. Check that you pasted the whole token, or get a new one.";
  if (err instanceof ServerBusyError) return `The server is busy right now. Please try again${err.retryAfterMs ? ` in ${Math.ceil(err.retryAfterMs / 1000)} s` : " in a moment"}.`;
  if (err instanceof ConnectionClosedError) return err.serverError ? `The server ended the session: ${err.serverError.message}` : `Connection lost (code ${err.code}).`;
  if (err instanceof ServerError) return `The feedback could not be produced: ${err.message}. Your transcript was saved.`;
  if (err instanceof DOMException && (err.name === "NotAllowedError" || err.name === "SecurityError")) return "Microphone access was denied. Allow the microphone for this site (the lock or camera icon in the address bar) and press Start again.";
  if (err instanceof DOMException && err.name === "NotFoundError") return "No microphone was found. Plug one in and press Start again.";
  return err instanceof Error ? err.message : String(err);
}

function setLag(ms: number) {
  ui.lag.textContent = `lag ${(ms / 1000).toFixed(1)} s`;
  ui.lag.dataset.level = ms < 1500 ? "ok" : ms < 4000 ? "slow" : "behind";
}

async function startCapture(): Promise<Capture> {
  if (!window.isSecureContext) throw new Error("The microphone needs a secure page: open this page over https:// (or on localhost).");
  if (!navigator.mediaDevices?.getUserMedia) throw new Error("This browser cannot capture audio.");
  // No noise suppression or automatic gain: both reshape speech for human ears and cost Whisper words
  // (measured: jfk.wav through the page went from 2 word errors to 0, test/e2e/browser-real.test.ts).
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false } });
  // Ask for 16 kHz so the browser resamples natively; the worklet resamples itself if refused.
  let ctx: AudioContext;
  try {
    ctx = new AudioContext({ sampleRate: 16000 });
  } catch {
    ctx = new AudioContext();
  }
  await ctx.audioWorklet.addModule(new URL("./capture-worklet.js", import.meta.url));
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-capture", { numberOfInputs: 1, numberOfOutputs: 0, processorOptions: { targetRate: 16000, chunkMs: 250 } });
  node.port.onmessage = (ev: MessageEvent<{ type: string; pcm?: ArrayBuffer; rms?: number; peak?: number }>) => {
    const m = ev.data;
    if (m.type === "level") ui.level.value = Math.min(1, Math.sqrt(m.rms ?? 0) * 1.5);
    else if (m.type === "chunk" && m.pcm && encoding === "pcm_s16le") sendChunk(m.pcm);
  };
  source.connect(node);
  if (ctx.state === "suspended") await ctx.resume();
  // Opus: the browser's own encoder; the worklet still drives the level meter.
  let recorder: MediaRecorder | null = null;
  // Blob reads are chained so that chunks go out in the order they were recorded.
  let delivered: Promise<void> = Promise.resolve();
  const startRecorder = () => {
    if (encoding !== "opus") return;
    const r = new MediaRecorder(stream, { mimeType: OPUS_MIME, audioBitsPerSecond: OPUS_BITS_PER_SECOND });
    r.ondataavailable = (ev: BlobEvent) => {
      if (ev.data.size === 0) return;
      delivered = delivered.then(() => ev.data.arrayBuffer()).then((b) => {
        if (r === recorder) sendChunk(b);
      });
    };
    r.start(250);
    recorder = r;
  };
  const stopRecorder = async () => {
    const r = recorder;
    if (!r || r.state === "inactive") return;
    // The last dataavailable comes before "stop": it carries the end of what was said.
    await new Promise<void>((resolve) => {
      r.addEventListener("stop", () => setTimeout(resolve, 0), { once: true });
      r.stop();
      setTimeout(resolve, 1000);
    });
    await delivered;
  };
  return {
    ctx,
    stream,
    node,
    restartRecorder() {
      if (encoding !== "opus") return;
      recorder?.state !== "inactive" && recorder?.stop();
      recorder = null;
      startRecorder();
    },
    async stop() {
      await stopRecorder();
      recorder = null;
      // The worklet hands over its partial last chunk before "stopped".
      const stopped = new Promise<void>((resolve) => {
        const prev = node.port.onmessage;
        node.port.onmessage = (ev: MessageEvent<{ type: string }>) => {
          prev?.call(node.port, ev);
          if (ev.data.type === "stopped") resolve();
        };
        setTimeout(resolve, 500);
      });
      node.port.postMessage({ type: "stop" });
      await stopped;
      stream.getTracks().forEach((t) => t.stop());
      source.disconnect();
      await ctx.close();
      ui.level.value = 0;
    },
  };
}

// Counters on <body> let people (and the end-to-end test) see what flowed.
function bump(key: "partials" | "finals" | "sentSamples" | "sentBytes", by = 1) {
  document.body.dataset[key] = String(Number(document.body.dataset[key] ?? 0) + by);
}

function sendChunk(pcm: ArrayBuffer) {
  if (session && (state === "streaming" || (state === "analysing" && encoding === "opus" && !session.closed))) {
    try {
      session.sendAudio(pcm);
      if (encoding === "pcm_s16le") bump("sentSamples", pcm.byteLength / 2);
      bump("sentBytes", pcm.byteLength);
      return;
    } catch {
      // falls through to the backlog; the session's own close handling reconnects
    }
  }
  // Opus chunks continue one WebM stream: they are useless to a new session, which gets a new one.
  if ((state === "reconnecting" || state === "connecting") && encoding === "pcm_s16le") {
    backlog.push(pcm);
    if (backlog.length > MAX_BACKLOG_CHUNKS) backlog.shift();
  }
}

async function openSession(): Promise<ParlanceSession> {
  abort = new AbortController();
  const s = await connectWithRetry(
    STREAM_URL,
    { token: ui.token.value.trim(), config: { encoding, sample_rate: 16000, channels: 1, ...(ui.task.value.trim() ? { task: ui.task.value.trim() } : {}) }, signal: abort.signal },
    {
      retries: 4,
      // Non-retryable refusals (bad token, not set up) are never retried: isRetryable decides.
      onRetry: ({ delayMs, error }) =>
        showMessage(`${error instanceof ServerBusyError ? "The server is busy." : "Connection failed."} Retrying in ${Math.ceil(delayMs / 1000)} s…`, "info"),
    },
  );
  showMessage(null);
  abort = null; // the signal stays bound to this session: never fire it once connected
  return s;
}

/** Consumes one session's events until it ends; reconnects when the connection is lost mid-stream. */
async function runEvents(s: ParlanceSession) {
  try {
    for await (const ev of s) {
      switch (ev.type) {
        case "ready":
          ui.status.dataset.session = ev.session_id;
          break;
        case "partial":
          ui.partial.textContent = ev.text;
          bump("partials");
          setLag(ev.lag_ms);
          break;
        case "final":
          if (ev.text) ui.committed.textContent = (ui.committed.textContent ? ui.committed.textContent + " " : "") + ev.text.trim();
          ui.partial.textContent = "";
          bump("finals");
          setLag(ev.lag_ms);
          break;
        case "ended":
          ui.partial.textContent = "";
          break;
        case "error":
          if (!ev.fatal && ev.code !== "analysis_failed") showMessage(ev.message, "info");
          break;
        default:
          break;
      }
    }
  } catch (err) {
    if (err instanceof AbortedError || stopping || s !== session) return;
    if (isRetryable(err) && capture) {
      await reconnect(err);
      return;
    }
    await fail(err);
  }
}

async function reconnect(cause: unknown) {
  // A server session lives on one connection: a reconnect opens a new one. Committed text stays
  // on screen; the revisable partial is gone with the old session.
  setState("reconnecting");
  showMessage(`${describe(cause)} Reconnecting… (what you said so far is kept)`, "info");
  ui.partial.textContent = "";
  session = null;
  try {
    const s = await openSession();
    if (stopping) {
      s.abort();
      return;
    }
    session = s;
    setState("streaming");
    capture?.restartRecorder();
    for (const pcm of backlog.splice(0)) {
      s.sendAudio(pcm);
      bump("sentSamples", pcm.byteLength / 2);
    }
    void runEvents(s);
  } catch (err) {
    if (err instanceof AbortedError) return;
    await fail(err);
    ui.reconnect.hidden = false;
    ui.reconnect.focus();
  }
}

async function fail(err: unknown) {
  showMessage(describe(err));
  setState("error");
  const c = capture;
  capture = null;
  await c?.stop().catch(() => {});
  session?.abort();
  session = null;
  if (err instanceof AuthFailedError) ui.token.focus();
  if (err instanceof ServiceUnavailableError) ui.status.textContent = "Not set up";
}

async function start() {
  if (!ui.token.value.trim()) {
    showMessage("Enter an access token first.");
    ui.token.focus();
    return;
  }
  stopping = false;
  backlog = [];
  ui.reconnect.hidden = true;
  ui.report.hidden = true;
  ui.reportBody.replaceChildren();
  ui.committed.textContent = "";
  ui.partial.textContent = "";
  for (const k of ["partials", "finals", "sentSamples", "sentBytes"]) delete document.body.dataset[k];
  encoding = ui.encoding.value === "opus" ? "opus" : "pcm_s16le";
  showMessage(null);
  setState("connecting");
  try {
    // Microphone first: no server session is opened for someone who cannot record.
    capture = await startCapture();
    session = await openSession();
    setState("streaming");
    // Opus chunks recorded before `ready` were dropped: start the WebM stream afresh.
    capture.restartRecorder();
    for (const pcm of backlog.splice(0)) {
      session.sendAudio(pcm);
      bump("sentSamples", pcm.byteLength / 2);
    }
    void runEvents(session);
    ui.stop.focus();
  } catch (err) {
    await fail(err);
  }
}

async function stop() {
  if (stopping) return;
  stopping = true;
  abort?.abort("stopped"); // only cancels a connect or reconnect still in progress
  setState("analysing");
  const c = capture;
  capture = null;
  await c?.stop().catch(() => {});
  const s = session;
  if (!s || s.closed) {
    showMessage("The connection was lost before the end, so no feedback could be produced for this last part.");
    setState("error");
    return;
  }
  try {
    // The transcript, fluency and vocabulary come at once; the grammar feedback replaces them when ready.
    const report = await s.end({
      onProvisional: (partial) => {
        ui.reportBody.replaceChildren(renderReport(partial));
        ui.report.hidden = false;
        setState("analysing", "Writing your grammar feedback…");
      },
    });
    s.close();
    ui.reportBody.replaceChildren(renderReport(report));
    ui.report.hidden = false;
    setState("done", "Feedback ready");
    ui.report.focus();
  } catch (err) {
    await fail(err);
  }
}

ui.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  void start();
});
ui.stop.addEventListener("click", () => void stop());
ui.reconnect.addEventListener("click", () => void start());
ui.tokenToggle.addEventListener("click", () => {
  const show = ui.token.type === "password";
  ui.token.type = show ? "text" : "password";
  ui.tokenToggle.textContent = show ? "Hide" : "Show";
  ui.tokenToggle.setAttribute("aria-pressed", String(show));
  ui.tokenToggle.setAttribute("aria-label", show ? "Hide token" : "Show token");
});

// Dev mode: the server hands loopback visitors a token, so the page works out of the box.
async function prefillDevToken() {
  try {
    const res = await fetch("/v1/dev/token", { cache: "no-store" });
    if (!res.ok) return;
    const body = (await res.json()) as { token?: unknown };
    if (typeof body.token === "string" && !ui.token.value) {
      ui.token.value = body.token;
      ui.tokenHint.textContent = "Dev mode: a token for this machine was filled in for you.";
    }
  } catch {
    // Not in dev mode: the learner pastes a token.
  }
}

// Opus is offered where the browser can record it (MediaRecorder with WebM/Opus).
const opusSupported = typeof MediaRecorder !== "undefined" && MediaRecorder.isTypeSupported(OPUS_MIME);
if (!opusSupported) {
  ui.encoding.querySelector<HTMLOptionElement>('option[value="opus"]')!.disabled = true;
  ui.encodingHint.textContent = "This browser cannot record Opus; audio is sent uncompressed.";
}

setState("idle");
void prefillDevToken().finally(() => document.body.setAttribute("data-page-ready", "true"));
