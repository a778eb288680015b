// Runs `parlance serve` as a real child process (for signals, memory and crash tests).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { after } from "node:test";
import { resolve } from "node:path";

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  wsUrl: string;
  fingerprint: string | null;
  devToken: string | null;
  output: () => string;
  rssKb: () => number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const ROOT = resolve(import.meta.dirname, "../..");

export async function spawnServer(env: Record<string, string>, args: string[] = [], startTimeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [resolve(ROOT, "bin/parlance.js"), "serve", ...args], {
    cwd: ROOT,
    env: { ...process.env, PARLANCE_PORT: "0", PARLANCE_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const started = await Promise.race([
    new Promise<boolean>((r) => {
      // Stops polling once the child is gone: a server that refuses to start must not leave this
      // loop keeping the test process alive forever.
      const check = () => {
        if (/listening on (\S+)/.test(out) && /stream:\s+(\S+)/.test(out)) r(true);
        else if (child.exitCode === null && child.signalCode === null) setTimeout(check, 50).unref();
      };
      check();
    }),
    exited.then(() => false),
    // Unref'd: a pending start-up deadline must not keep the test process alive after the tests.
    new Promise<boolean>((r) => setTimeout(() => r(false), startTimeoutMs).unref()),
  ]);
  if (!started) {
    child.kill("SIGKILL");
    throw new Error(`server did not start:\n${out}`);
  }
  // Give the banner a moment to finish printing (dev token comes last).
  await new Promise((r) => setTimeout(r, 100));
  return {
    child,
    pid: child.pid!,
    url: /listening on (\S+)/.exec(out)![1]!,
    wsUrl: /stream:\s+(\S+)/.exec(out)![1]!,
    fingerprint: /SHA-256 ([0-9A-F:]+)/.exec(out)?.[1] ?? null,
    devToken: /dev token:\s+(\S+)/.exec(out)?.[1] ?? null,
    output: () => out,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? NaN),
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
