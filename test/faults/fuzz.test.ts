// Issue 8: protocol fuzz over raw TLS sockets after a valid upgrade. Hand-made malformed frames
// get the documented typed close (ws's 1002/1007/1009 become 4400/4413 with an `error` first),
// seeded random frame sequences before and after auth never crash or wedge the process, and a
// normal session afterwards is served end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { authed } from "../helpers/gateway.js";
import { hsToken } from "../helpers/tokens.js";
import { sendPaced, wavChunks } from "../helpers/pipeline.js";
import { ScriptedLlm, frame, metricValue, parseServerFrames, rawUpgrade, sleep, startFaultServer, until, type FaultServer } from "./_util.js";

const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** mulberry32: small, seedable, good enough to pick frame shapes. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))) };
}

interface Outcome {
  /** Close code from the server's close frame, or null when it did not send one in time. */
  code: number | null;
  messages: Record<string, any>[];
  pong: boolean;
}

/** One raw connection: optional auth, then `frames` as raw bytes, then wait for the server to close. */
async function rawSession(s: FaultServer, token: string | null, frames: Buffer[], waitMs = 4000): Promise<Outcome> {
  const raw = await rawUpgrade(s.port, s.ca);
  const decode = (): Outcome => {
    const out: Outcome = { code: null, messages: [], pong: false };
    for (const f of parseServerFrames(raw.received())) {
      if (f.opcode === OP.text) out.messages.push(JSON.parse(f.payload.toString("utf8")));
      if (f.opcode === OP.pong) out.pong = true;
      if (f.opcode === OP.close) out.code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    }
    return out;
  };
  if (token) {
    raw.socket.write(frame({ opcode: OP.text, payload: Buffer.from(JSON.stringify({ type: "auth", token })) }));
    await until("ready over the raw socket", () => decode().messages.some((m) => m.type === "ready"), 30_000, 20);
  }
  for (const f of frames) if (!raw.socket.destroyed) raw.socket.write(f);
  await Promise.race([raw.closed, until("a close frame", () => decode().code !== null, waitMs, 20).catch(() => null)]);
  raw.socket.destroy();
  return decode();
}

test("protocol fuzz over raw TLS: typed closes for malformed frames; random frames never crash the process", { timeout: 600_000 }, async () => {
  const llm = await ScriptedLlm.create("answer");
  const s = await startFaultServer(llm, { PARLANCE_LIMITS_MAX_PENDING_AUTH_PER_IP: "1000" });
  const token = await hsToken({ sub: "fuzzer" });
  const text = (payload: string | Buffer, o: Partial<Parameters<typeof frame>[0]> = {}) => frame({ opcode: OP.text, payload: Buffer.from(payload), ...o });
  const badUtf8 = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]);
  const closePayload = (code: number, reason: Buffer | string = "") => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

  // Malformed frames with the outcome protocol v1 documents, before auth and after `ready`.
  const cases: { name: string; frames: Buffer[]; code: number; error?: string }[] = [
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) => ({ name: `reserved opcode ${op}`, frames: [frame({ opcode: op, payload: Buffer.from("x") })], code: 4400, error: "protocol_violation" })),
    { name: "RSV1 without an extension", frames: [text("{}", { rsv: 4 })], code: 4400, error: "protocol_violation" },
    { name: "RSV2+RSV3", frames: [frame({ opcode: OP.binary, rsv: 3, payload: Buffer.alloc(4) })], code: 4400, error: "protocol_violation" },
    { name: "unmasked client frame", frames: [text('{"type":"flush"}', { mask: false })], code: 4400, error: "protocol_violation" },
    { name: "text frame with invalid UTF-8", frames: [text(badUtf8)], code: 4400, error: "protocol_violation" },
    { name: "continuation without a start", frames: [frame({ opcode: OP.cont, payload: Buffer.from("abc") })], code: 4400, error: "protocol_violation" },
    { name: "new message inside a fragmented one", frames: [text('{"ty', { fin: false }), text('pe":"flush"}')], code: 4400, error: "protocol_violation" },
    { name: "invalid UTF-8 split across fragments", frames: [text(Buffer.from([0x7b, 0xe2, 0x82]), { fin: false }), frame({ opcode: OP.cont, payload: Buffer.from([0x28, 0x7d]) })], code: 4400, error: "protocol_violation" },
    { name: "fragmented ping", frames: [frame({ opcode: OP.ping, fin: false, payload: Buffer.from("p") })], code: 4400, error: "protocol_violation" },
    { name: "control frame over 125 bytes", frames: [frame({ opcode: OP.ping, payload: Buffer.alloc(126) })], code: 4400, error: "protocol_violation" },
    { name: "close frame with a 1-byte payload", frames: [frame({ opcode: OP.close, payload: Buffer.from([3]) })], code: 4400, error: "protocol_violation" },
    { name: "close frame with a reserved code", frames: [frame({ opcode: OP.close, payload: closePayload(1005) })], code: 4400, error: "protocol_violation" },
    { name: "close frame with an invalid UTF-8 reason", frames: [frame({ opcode: OP.close, payload: closePayload(1000, badUtf8) })], code: 4400, error: "protocol_violation" },
    { name: "64-bit length of 2^63-1", frames: [frame({ opcode: OP.binary, payload: Buffer.alloc(0), lengthOverride: 2n ** 63n - 1n })], code: 4413, error: "frame_too_large" },
    { name: "declared 600 KiB binary frame (over max_frame_bytes)", frames: [frame({ opcode: OP.binary, payload: Buffer.alloc(0), lengthOverride: 600n * 1024n })], code: 4413, error: "frame_too_large" },
    { name: "fragments adding up past max_frame_bytes", frames: Array.from({ length: 5 }, (_, i) => frame({ opcode: i === 0 ? OP.binary : OP.cont, fin: i === 4, payload: Buffer.alloc(128 * 1024) })), code: 4413, error: "frame_too_large" },
  ];
  for (const c of cases) {
    const out = await rawSession(s, token, c.frames);
    assert.equal(out.code, c.code, `after ready, ${c.name}: close ${out.code}; ${JSON.stringify(out.messages.map((m) => m.code ?? m.type))}`);
    if (c.error) assert.equal(out.messages.at(-1)?.code, c.error, `after ready, ${c.name}: typed error before the close`);
    // Before auth the 16 KiB pre-auth cap applies to size, the same rules to the rest.
    const pre = await rawSession(s, null, c.frames);
    assert.ok(pre.code === c.code, `before auth, ${c.name}: close ${pre.code}`);
  }

  // Pre-auth frame cap, and valid uses of the framing that must keep working.
  assert.equal((await rawSession(s, null, [text("x".repeat(17 * 1024))])).code, 4413, "pre-auth text frame over 16 KiB");
  const pingPong = await rawSession(s, token, [frame({ opcode: OP.ping, payload: Buffer.from("hi") })], 1000);
  assert.ok(pingPong.pong, "a ping is answered");
  assert.equal(pingPong.code, null, "and the connection stays open");
  const auth = Buffer.from(JSON.stringify({ type: "auth", token }));
  const fragmentedAuth = await rawSession(s, null, [
    text(auth.subarray(0, 10), { fin: false }),
    frame({ opcode: OP.ping, payload: Buffer.from("between fragments") }), // allowed inside a message
    frame({ opcode: OP.cont, fin: false, payload: auth.subarray(10, 30) }),
    frame({ opcode: OP.cont, payload: auth.subarray(30) }),
  ], 2000);
  assert.equal(fragmentedAuth.messages[0]?.type, "ready", `a fragmented auth message is reassembled: ${JSON.stringify(fragmentedAuth.messages)}`);
  const closed = await rawSession(s, token, [frame({ opcode: OP.close, payload: closePayload(1000, "bye") })]);
  assert.equal(closed.code, 1000, "a clean client close is echoed");

  // Seeded random frame sequences: any opcode, flags, mask, length encoding and payload.
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  console.log(`# fuzz seed ${seed} (FUZZ_SEED=${seed} to replay)`);
  const r = prng(seed);
  const randomFrame = (): Buffer => {
    const pick = r.int(10);
    if (pick === 0) return r.bytes(1 + r.int(64)); // not a frame at all
    const payload = pick === 1 ? Buffer.from(JSON.stringify({ type: ["auth", "end", "flush", "reauth", "x"][r.int(5)], token: r.int(2) ? token : "x" })) : r.bytes(r.int(pick === 2 ? 9000 : 200));
    const lie = r.int(8) === 0; // a declared length that does not match what follows
    return frame({
      fin: r.int(4) !== 0,
      rsv: r.int(6) === 0 ? 1 + r.int(7) : 0,
      opcode: [OP.cont, OP.text, OP.binary, OP.close, OP.ping, OP.pong, r.int(16)][r.int(7)]!,
      mask: r.int(12) !== 0,
      payload,
      lengthOverride: lie ? BigInt(r.int(2) ? r.int(70000) : r.int(126)) : undefined,
    });
  };
  for (let i = 0; i < 60; i++) {
    const frames = Array.from({ length: 1 + r.int(12) }, randomFrame);
    await rawSession(s, i % 2 ? token : null, frames, 1500);
    assert.equal(s.srv.child.exitCode, null, `process alive after random sequence ${i} (seed ${seed})`);
  }
  // Pure noise straight after the upgrade, and a connection dropped in the middle of a frame.
  await rawSession(s, null, [randomBytes(4096)], 1500);
  await rawSession(s, token, [frame({ opcode: OP.binary, payload: Buffer.alloc(8000) }).subarray(0, 3000)], 300);

  // Still alive, nothing failed inside the server, and a normal session is served end to end.
  assert.equal(s.srv.child.exitCode, null, s.srv.output());
  assert.equal((await s.get("/healthz")).status, 200);
  const m = await s.metrics();
  assert.ok(Number.isNaN(metricValue(m, "parlance_closes_total", 'code="1011"')), "no internal_error close");
  assert.doesNotMatch(s.srv.output(), /unexpected error|uncaught|unhandled/i);
  const c = await authed(s.gw, token);
  await c.next("ready", 30_000);
  await sendPaced(c.ws, wavChunks("jfk.wav"), 250, 4);
  c.ws.send(JSON.stringify({ type: "end" }));
  await c.next("ended", 60_000);
  await c.next("report", 60_000);
  assert.equal((await c.closed).code, 1000);
  await sleep(200);
  await until("every fuzz connection released", async () => metricValue(await s.metrics(), "parlance_connections", 'state="awaiting_auth"') === 0, 30_000, 250);

  const exit = await s.srv.stop("SIGTERM");
  assert.equal(exit.code, 0, s.srv.output());
});
