// Starts a throwaway real Redis server for tests: Debian's `redis-server`, 127.0.0.1 on a free
// port, no persistence (no RDB, no AOF), a temp working dir, stopped by stop() and on process exit
// so a failing test file never leaves a server behind.
//
// PARLANCE_TEST_REDIS_URL=redis://... uses an existing server instead (tests then use their own
// key prefix). A missing binary is an error, never a skip: the queue path must be tested on Redis
// (`apt-get install -y redis-server`).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { freePort } from "./ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestRedis {
  url: string;
  port: number;
  /** Server output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export function findRedisServer(): string {
  const bin = process.env.PARLANCE_REDIS_SERVER_BIN ?? "redis-server";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `redis-server not found (${bin}): install it with \`apt-get install -y redis-server\` ` +
        "(or set PARLANCE_REDIS_SERVER_BIN, or PARLANCE_TEST_REDIS_URL to an existing server)",
    );
  }
  return bin;
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

export async function startRedis(timeoutMs = 15_000): Promise<TestRedis> {
  const external = process.env.PARLANCE_TEST_REDIS_URL;
  if (external) {
    const u = new URL(external);
    return { url: external, port: Number(u.port || 6379), output: () => "", stop: async () => undefined };
  }
  const bin = findRedisServer();
  const dir = mkdtempSync(join(tmpdir(), "parlance-redis-"));
  const port = await freePort();
  // No persistence and no protected-mode surprises: a throwaway server on loopback only.
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes", "--loglevel", "warning"];
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const killSync = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killSync);

  const deadline = Date.now() + timeoutMs;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      process.removeListener("exit", killSync);
      killSync();
      throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    output: () => out,
    async stop() {
      process.removeListener("exit", killSync);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
