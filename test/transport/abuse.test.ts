// Issue 3, acceptance 6 (and 7's start-up banner): a real server process under abuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { spawnServer } from "../helpers/process.js";
import { authed, connect, tempDir } from "../helpers/gateway.js";

async function floodUnauthenticated(wsUrl: string, ca: string, n: number, batch = 50): Promise<Map<number, number>> {
  const codes = new Map<number, number>();
  const one = () =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(wsUrl, { ca });
      ws.on("error", () => {});
      ws.on("close", (code) => {
        codes.set(code, (codes.get(code) ?? 0) + 1);
        resolve();
      });
    });
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i += batch) {
    for (let j = i; j < Math.min(n, i + batch); j++) all.push(one());
    await new Promise((r) => setTimeout(r, 20)); // pace handshakes; they are what costs CPU
  }
  await Promise.all(all);
  return codes;
}

test("500 connections that never authenticate are closed by the timeout; memory returns; others are served", { timeout: 180_000 }, async () => {
  const dataDir = tempDir();
  const srv = await spawnServer({
    PARLANCE_DATA_DIR: dataDir,
    PARLANCE_DEV: "1",
    PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "2000",
    PARLANCE_LIMITS_MAX_PENDING_AUTH_PER_IP: "1000",
    PARLANCE_STT_ENGINE: "fake",
    PARLANCE_LLM_PROVIDER: "fake",
  });
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  assert.ok(srv.fingerprint, "prints the certificate fingerprint");
  assert.ok(srv.devToken, "prints a dev token");

  // Warm-up round: JIT, TLS session caches and heap reach their working size.
  const warm = await floodUnauthenticated(srv.wsUrl, ca, 500);
  assert.equal(warm.get(4408), 500, `all closed by the auth timeout: ${JSON.stringify([...warm])}`);
  await new Promise((r) => setTimeout(r, 1000));
  const baseline = srv.rssKb();

  const codes = await floodUnauthenticated(srv.wsUrl, ca, 500);
  assert.equal(codes.get(4408), 500, `all closed by the auth timeout: ${JSON.stringify([...codes])}`);
  await new Promise((r) => setTimeout(r, 1000));
  const afterRss = srv.rssKb();
  const growth = (afterRss - baseline) / baseline;
  console.log(`# RSS after warm-up ${baseline} kB, after 500 more ${afterRss} kB (${(growth * 100).toFixed(1)} %)`);
  assert.ok(growth < 0.1, `RSS grew ${(growth * 100).toFixed(1)} % (baseline ${baseline} kB, after ${afterRss} kB)`);

  // A session that did authenticate keeps working through garbage and oversize frames on other connections.
  const good = await authed({ wsUrl: srv.wsUrl, ca }, srv.devToken!);
  await good.next("ready");

  // Raw garbage after a valid upgrade, over a raw TLS socket.
  const garbageClosed = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port: Number(new URL(srv.url).port), ca, servername: "localhost" }, () => {
      s.write(`GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let buf = Buffer.alloc(0);
    let upgraded = false;
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded && buf.includes("\r\n\r\n")) {
        upgraded = true;
        assert.match(buf.toString("latin1"), /^HTTP\/1\.1 101/);
        s.write(randomBytes(4096));
      }
    });
    s.on("close", () => resolve(buf.toString("latin1")));
    s.on("error", reject);
    setTimeout(() => reject(new Error("garbage connection was not closed")), 10_000);
  });
  assert.ok(garbageClosed.length > 0);

  // Oversize frame after auth: typed error + 4413 on that connection only.
  const big = await authed({ wsUrl: srv.wsUrl, ca }, srv.devToken!);
  await big.next("ready");
  big.ws.send(Buffer.alloc(10 * 1024 * 1024));
  const bigClose = await big.closed;
  assert.equal(bigClose.code, 4413);
  assert.equal(big.messages.find((m) => m.type === "error")?.code, "frame_too_large");

  // Oversize text frame before auth (64 KiB): 4413 as well.
  const pre = await connect(srv.wsUrl, ca);
  pre.ws.send("x".repeat(64 * 1024));
  assert.equal((await pre.closed).code, 4413);

  // The good session is untouched and the server still serves new ones.
  good.ws.send(Buffer.alloc(8000));
  good.ws.send(JSON.stringify({ type: "flush" }));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(good.ws.readyState, WebSocket.OPEN);
  const fresh = await authed({ wsUrl: srv.wsUrl, ca }, srv.devToken!);
  await fresh.next("ready");
  fresh.ws.close();
  good.ws.close();

  const exit = await srv.stop("SIGTERM");
  assert.equal(exit.code, 0, srv.output());
});

test("per-IP cap on connections waiting for auth refuses the excess with 429", async () => {
  const dataDir = tempDir();
  const srv = await spawnServer({ PARLANCE_DATA_DIR: dataDir, PARLANCE_DEV: "1", PARLANCE_LIMITS_MAX_PENDING_AUTH_PER_IP: "5", PARLANCE_LIMITS_AUTH_TIMEOUT_MS: "3000" });
  const ca = readFileSync(join(dataDir, "tls/dev-cert.pem"), "utf8");
  const open = await Promise.all(Array.from({ length: 5 }, () => connect(srv.wsUrl, ca)));
  await assert.rejects(connect(srv.wsUrl, ca), /HTTP 429/);
  open.forEach((c) => c.ws.close());
  await srv.stop();
});

test("production mode refuses to start without a verifier or TLS files, naming the setting", async () => {
  const dataDir = tempDir();
  await assert.rejects(spawnServer({ PARLANCE_DATA_DIR: dataDir, PARLANCE_DEV: "0" }, [], 15_000), /PARLANCE_JWT_SECRET/);
  await assert.rejects(spawnServer({ PARLANCE_DATA_DIR: dataDir, PARLANCE_JWT_SECRET: "x".repeat(40) }, [], 15_000), /PARLANCE_TLS_CERT/);
  await assert.rejects(spawnServer({ PARLANCE_DATA_DIR: dataDir, PARLANCE_PORT: "notaport" }, ["--dev"], 15_000), /port \(PARLANCE_PORT/);
});
