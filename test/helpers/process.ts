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

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** `parlance <args>` as a child process with its output collected; SIGKILLed after the test if it still runs. */
export function spawnParlance(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<Exit> } {
  const child = spawn(process.execPath, [resolve(ROOT, "bin/parlance.js"), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<Exit>((r) => child.on("exit", (code, signal) => r({ code, signal })));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, output: () => out, exited };
}

export async function spawnServer(env: Record<string, string>, args: string[] = [], startTimeoutMs = 60_000): Promise<ServerProcess> {
  const { child, output, exited } = spawnParlance(["serve", ...args], { ...process.env, PARLANCE_PORT: "0", PARLANCE_LOG_LEVEL: "warn", ...env });
  const started = await Promise.race([
    new Promise<boolean>((r) => {
      // Stops polling once the child is gone: a server that refuses to start must not leave this
      // loop keeping the test process alive forever.
      const check = () => {
        if (/listening on (\S+)/.test(output()) && /stream:\s+(\S+)/.test(output())) r(true);
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
    throw new Error(`server did not start:\n${output()}`);
  }
  // Give the banner a moment to finish printing (dev token comes last).
  await new Promise((r) => setTimeout(r, 100));
  return {
    child,
    pid: child.pid!,
    url: /listening on (\S+)/.exec(output())![1]!,
    wsUrl: /stream:\s+(\S+)/.exec(output())![1]!,
    fingerprint: /SHA-256 ([0-9A-F:]+)/.exec(output())?.[1] ?? null,
    devToken: /dev token:\s+(\S+)/.exec(output())?.[1] ?? null,
    output,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? NaN),
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface NpmStart {
  child: ChildProcess;
  output: () => string;
  /** The exit code (null: killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM to the process group: npm runs the server under a shell. */
  stop(): Promise<number | null>;
}

/** `npm start [-- args]` as a user runs it from the checkout; its whole group is killed after the test. */
export function npmStart(args: string[], env: NodeJS.ProcessEnv): NpmStart {
  // detached: npm runs the server under a shell; signalling the process group stops all of them.
  const child = spawn("npm", ["start", "--silent", ...(args.length ? ["--", ...args] : [])], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  after(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  });
  return {
    child,
    output: () => out,
    exited,
    stop() {
      process.kill(-child.pid!, "SIGTERM");
      return exited;
    },
  };
}

/** Resolves with the output once the dev banner's last line (the dev token) is out; throws with the output if the process exits first or `timeoutMs` passes. */
export async function waitForDevBanner(p: NpmStart, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!/dev token:\s+\S+/.test(p.output())) {
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not print its banner:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return p.output();
}
