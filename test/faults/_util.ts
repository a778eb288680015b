// Shared pieces of the fault-injection tests: a loopback OpenAI-compatible chat server whose
// behaviour the test switches (down, hanging, answering), HTTPS helpers for REST and /metrics,
// and a raw TLS WebSocket client that writes hand-made frames.
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { randomBytes } from "node:crypto";
import { after } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnServer, type ServerProcess } from "../helpers/process.js";
import { pipelineEnv } from "../helpers/pipeline.js";
import { tempDir } from "../helpers/gateway.js";
import { send } from "../helpers/request.js";

export type LlmMode = "down" | "hang" | "answer";

/**
 * An OpenAI chat-completions server on 127.0.0.1. "down" closes the listening port (connection
 * refused), "hang" accepts requests and never answers, "answer" replies with a valid empty report.
 */
export class ScriptedLlm {
  private server: Server | null = null;
  private readonly hanging = new Map<ServerResponse, string | undefined>();
  private readonly sockets = new Set<Socket>();
  mode: LlmMode = "answer";
  port = 0;
  requests = 0;
  answered = 0;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  static async create(mode: LlmMode): Promise<ScriptedLlm> {
    const s = new ScriptedLlm();
    await s.listen(0); // reserve a port, so "down" means refused on a port the config names
    await s.set(mode);
    after(() => s.close());
    return s;
  }

  async set(mode: LlmMode): Promise<void> {
    this.mode = mode;
    if (mode === "down") return this.close();
    if (!this.server) await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        this.requests++;
        const parsed = JSON.parse(body || "{}") as { model?: string };
        if (this.mode === "hang") {
          this.hanging.set(res, parsed.model);
          res.on("close", () => this.hanging.delete(res));
          return;
        }
        this.answer(res, parsed.model);
      });
    });
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((ok, fail) => {
      server.once("error", fail);
      server.listen(port, "127.0.0.1", () => ok());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  private answer(res: ServerResponse, model: string | undefined) {
    this.answered++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        id: "chatcmpl-fault",
        object: "chat.completion",
        created: 1,
        model: model ?? "m",
        choices: [{ index: 0, message: { role: "assistant", content: FEEDBACK }, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
  }

  /** Answers every request held by "hang" (a slow analysis that does finish), and stays in "answer". */
  release(): void {
    this.mode = "answer";
    for (const [res, model] of [...this.hanging]) {
      this.hanging.delete(res);
      this.answer(res, model);
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const r of this.hanging.keys()) r.destroy();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** A schema-valid feedback answer with no errors (the transcript's words do not matter); valid for feedback-v1 and -v2. */
export const FEEDBACK = JSON.stringify({
  errors: [],
  strengths: ["Kept talking."],
  strength: "Kept talking.",
  level: { cefr: "B1", evidence: ["Connected speech."], reason: "Connected speech." },
  recommendations: [],
});

export function https(base: string, ca: string, method: string, path: string, token?: string): Promise<{ status: number; body: any; text: string }> {
  return send(`${base}${path}`, { method, ca, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Value of one Prometheus sample (labels as written in the exposition, e.g. `code="4429"`). */
export function metricValue(text: string, name: string, labels = ""): number {
  const want = labels ? `${name}{${labels}}` : name;
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    const key = line.slice(0, sp);
    if (key === want || (!labels && key.startsWith(`${name}{`) && !name.endsWith("_bucket"))) {
      sum += Number(line.slice(sp + 1));
      found = true;
    }
  }
  return found ? sum : NaN;
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- raw WebSocket frames over TLS ------------------------------------------------------------

/** A client frame. mask=false writes an unmasked client frame (a protocol violation). */
export function frame(opts: { fin?: boolean; rsv?: number; opcode: number; payload: Buffer; mask?: boolean; lengthOverride?: bigint }): Buffer {
  const { fin = true, rsv = 0, opcode, payload, mask = true } = opts;
  const len = opts.lengthOverride ?? BigInt(payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (len < 126n) head.push(m | Number(len));
  else if (len < 65536n) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(len));
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i % 4]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export interface RawWs {
  socket: TLSSocket;
  /** Bytes received after the 101 response. */
  received(): Buffer;
  closed: Promise<void>;
}

/** Opens TLS, performs a valid upgrade to /v1/stream, resolves after the 101. */
export function rawUpgrade(port: number, ca: string): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      socket.write(
        `GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (upgraded) return;
      const i = buf.indexOf("\r\n\r\n");
      if (i < 0) return;
      upgraded = true;
      const head = buf.subarray(0, i).toString("latin1");
      buf = buf.subarray(i + 4);
      if (!/^HTTP\/1\.1 101/.test(head)) return reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
      resolve({ socket, received: () => buf, closed });
    });
    void closed.then(() => !upgraded && reject(new Error("closed before the upgrade")));
  });
}

/** Decodes server frames (unmasked) from raw bytes: opcode + payload, stops at the first incomplete frame. */
export function parseServerFrames(buf: Buffer): { opcode: number; payload: Buffer }[] {
  const out: { opcode: number; payload: Buffer }[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const opcode = buf[i]! & 0x0f;
    let len = buf[i + 1]! & 0x7f;
    let p = i + 2;
    if (len === 126) {
      if (p + 2 > buf.length) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > buf.length) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    if (p + len > buf.length) break;
    out.push({ opcode, payload: buf.subarray(p, p + len) });
    i = p + len;
  }
  return out;
}

// ---- a real `parlance serve` process for fault tests -------------------------------------------

export interface FaultServer {
  srv: ServerProcess;
  ca: string;
  dataDir: string;
  port: number;
  gw: { wsUrl: string; ca: string };
  get(path: string, token?: string): Promise<{ status: number; body: any; text: string }>;
  metrics(): Promise<string>;
}

/**
 * `parlance serve` as a child process with real Whisper (random-weight tiny.en) and the LLM chain
 * pointed at `llm` (an OpenAI-compatible server on loopback). `dataDir` lets a test restart on
 * the same store.
 */
export async function startFaultServer(llm: ScriptedLlm | null, env: Record<string, string> = {}, dataDir = tempDir()): Promise<FaultServer> {
  const srv = await spawnServer({
    ...pipelineEnv(),
    PARLANCE_DATA_DIR: dataDir,
    PARLANCE_LOG_LEVEL: "warn",
    // Random weights give low-confidence words; without these the quality gate would skip the LLM.
    PARLANCE_ANALYSIS_CONFIDENCE_THRESHOLD: "0",
    PARLANCE_ANALYSIS_MIN_WORDS: "1",
    ...(llm ? { PARLANCE_LLM_PROVIDER: "openai", PARLANCE_LLM_BASE_URL: llm.baseUrl, PARLANCE_LLM_MODEL: "fault-llm" } : {}),
    ...env,
  });
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  return {
    srv,
    ca,
    dataDir,
    port: Number(new URL(srv.url).port),
    gw: { wsUrl: srv.wsUrl, ca },
    get: (path, token) => https(srv.url, ca, "GET", path, token),
    metrics: async () => (await https(srv.url, ca, "GET", "/metrics")).text,
  };
}

/** Polls GET /v1/sessions/:id/report until it answers 200 (the complete report). */
export async function reportOverRest(s: FaultServer, sessionId: string, token: string, timeoutMs = 120_000): Promise<any> {
  return until(
    `report of ${sessionId}`,
    async () => {
      const r = await s.get(`/v1/sessions/${sessionId}/report`, token);
      if (r.status === 200) return r.body;
      if (r.status !== 202) throw new Error(`report: HTTP ${r.status} ${r.text}`);
      return null;
    },
    timeoutMs,
    250,
  );
}
