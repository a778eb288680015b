// What every long-running command (`serve`, `worker`) does around its own work: a bad setting
// exits 2 with the message that names it, a failed start exits 1 after a fatal log line, and
// SIGTERM/SIGINT close within the grace period (exit 0), with a hard deadline after it (exit 1).
import type { Command } from "commander";
import { ConfigError, type Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { configFromCommand } from "./options.js";

function exitOnConfigError(e: unknown): void {
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
}

export function configOrExit(cmd: Command): Config {
  try {
    return configFromCommand(cmd);
  } catch (e) {
    exitOnConfigError(e);
    throw e;
  }
}

export async function startOrExit<T>(what: string, log: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    exitOnConfigError(e);
    log.fatal({ err: e }, `${what} start-up failed`);
    process.exit(1);
  }
}

export function closeOnSignals(what: string, log: Logger, graceMs: number, close: (graceMs: number) => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${what} shutting down`);
    const hard = setTimeout(() => process.exit(1), graceMs + 5000);
    hard.unref();
    close(graceMs).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, `${what} shutdown failed`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
