// The server under load: `parlance serve` as its own child process, so /proc/<pid> gives its CPU
// and RSS alone (the load generator shares the machine and must not be counted), plus a sampler.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export interface ServerLog {
  lines: number;
  byLevel: Record<string, number>;
  /** Error/fatal lines (bounded), for the report. */
  errors: string[];
  /** What `speech-to-text ready` said: the measured admission capacity. */
  sttReady: { engine?: string; threads?: number; capacity?: number } | null;
  busyRefusals: number;
}

export interface ChildServer {
  child: ChildProcess;
  pid: number;
  url: string;
  wsUrl: string;
  log: ServerLog;
  /** Exit seen before stop() was called: a crash. */
  crashed: () => { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(graceMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

export async function startServer(env: Record<string, string>, startTimeoutMs: number): Promise<ChildServer> {
  const child = spawn(process.execPath, [resolve(ROOT, "bin/parlance.js"), "serve"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: ServerLog = { lines: 0, byLevel: {}, errors: [], sttReady: null, busyRefusals: 0 };
  let banner = "";
  let stopping = false;
  let crash: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("exit", (code, signal) => {
      if (!stopping) crash = { code, signal };
      r({ code, signal });
    }),
  );
  // Pino writes one JSON object per line; everything else is the start-up banner. Lines are
  // counted, not kept, so a long soak cannot grow this process's memory through the log.
  const onLine = (line: string) => {
    if (!line.startsWith("{")) {
      if (banner.length < 10_000) banner += line + "\n";
      return;
    }
    log.lines++;
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string; engine?: string; threads?: number; capacity?: number };
      const lvl = LEVELS[o.level ?? 0] ?? String(o.level);
      log.byLevel[lvl] = (log.byLevel[lvl] ?? 0) + 1;
      if (o.msg === "speech-to-text ready") log.sttReady = { engine: o.engine, threads: o.threads, capacity: o.capacity };
      if (o.msg === "session refused: busy") log.busyRefusals++;
      if ((o.level ?? 0) >= 50 && log.errors.length < 50) log.errors.push(line.slice(0, 2000));
    } catch {
      log.byLevel.unparsed = (log.byLevel.unparsed ?? 0) + 1;
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const started = await Promise.race([
    new Promise<boolean>((r) => {
      const check = () => (/listening on (\S+)/.test(banner) && /stream:\s+(\S+)/.test(banner) ? r(true) : setTimeout(check, 50));
      check();
    }),
    exited.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(false), startTimeoutMs)),
  ]);
  if (!started) {
    child.kill("SIGKILL");
    throw new Error(`parlance serve did not start within ${startTimeoutMs} ms:\n${banner}\n${log.errors.join("\n")}`);
  }
  return {
    child,
    pid: child.pid!,
    url: /listening on (\S+)/.exec(banner)![1]!,
    wsUrl: /stream:\s+(\S+)/.exec(banner)![1]!,
    log,
    crashed: () => crash,
    exited,
    async stop(graceMs) {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), killed: false };
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([exited, new Promise<null>((ok) => (timer = setTimeout(() => ok(null), graceMs)))]);
      clearTimeout(timer);
      if (r) return { ...r, killed: false };
      child.kill("SIGKILL");
      return { ...(await exited), killed: true };
    },
  };
}

export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  /** Server process CPU over the last interval, % of one core (2 cores = up to 200 %). */
  cpu: number;
  rssMb: number;
  threads: number;
  /** Whole machine busy over the last interval, % of all cores (other engineers' work included). */
  machineCpu: number;
  /** This load generator's own CPU, % of one core. */
  benchCpu: number;
  load1: number;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function procTicks(pid: number): number {
  // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based, proc(5)).
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

function procStatus(pid: number): { rssKb: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? NaN), threads: Number(/Threads:\s+(\d+)/.exec(s)?.[1] ?? NaN) };
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Samples the server process every `everyMs` until stopped or the process is gone. */
export function startSampler(pid: number, everyMs = 1000) {
  const samples: Sample[] = [];
  const t0 = performance.now();
  let last = { at: t0, ticks: procTicks(pid), machine: machineTicks(), bench: process.cpuUsage() };
  const timer = setInterval(() => {
    try {
      const now = performance.now();
      const ticks = procTicks(pid);
      const machine = machineTicks();
      const bench = process.cpuUsage();
      const st = procStatus(pid);
      const dt = (now - last.at) / 1000;
      const dm = machine.total - last.machine.total;
      samples.push({
        t: Math.round((now - t0) / 100) / 10,
        cpu: (((ticks - last.ticks) / CLK_TCK) / dt) * 100,
        rssMb: st.rssKb / 1024,
        threads: st.threads,
        machineCpu: dm > 0 ? ((machine.busy - last.machine.busy) / dm) * 100 : 0,
        benchCpu: ((bench.user - last.bench.user + bench.system - last.bench.system) / 1e6 / dt) * 100,
        load1: loadavg()[0]!,
      });
      last = { at: now, ticks, machine, bench };
    } catch {
      clearInterval(timer); // the process is gone; the crash check reports it
    }
  }, everyMs);
  return {
    samples,
    /** ms since the sampler started, on the same clock as Sample.t. */
    now: () => performance.now() - t0,
    stop: () => clearInterval(timer),
  };
}
