// What every long-running command (`serve`, `worker`) does around its own work: a bad setting
// exits 2 with the message that names it, a failed start exits 1 after a fatal log line, and
// SIGTERM/SIGINT close within the grace period (exit 0), with a hard deadline after it (exit 1).
// Once started, an exception that escapes every handler is logged, counted and survived
// (guardProcess).
import type { Command } from "commander";
import { ConfigError, type Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import { configFromCommand } from "./options.js";
import { recordEscaped } from "../util/escaped.js";

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

/**
 * Process-level policy for an exception that escaped every handler. Every network entry point
 * (request, upgrade, socket, timer, message handler) catches what it throws and answers its peer,
 * so an escape is a bug outside any one peer's input. Policy: log it at error level with its
 * stack, count it in /metrics (parlance_escaped_errors_total{kind}) and keep serving. Exiting
 * would end every live session for one bug, and a supervisor restart loses in-flight transcripts
 * the store has not committed. Never silenced: the log line and the counter are the alarm.
 * Start-up failures are not covered: startOrExit still exits 1 on them.
 */
let guarded = false;
export function guardProcess(log: Logger): void {
  if (guarded) return;
  guarded = true;
  process.on("uncaughtException", (err, origin) => {
    recordEscaped("uncaughtException");
    log.error({ err, origin }, "uncaught exception escaped every handler; serving on (parlance_escaped_errors_total)");
  });
  process.on("unhandledRejection", (reason) => {
    recordEscaped("unhandledRejection");
    log.error({ err: reason }, "unhandled promise rejection escaped every handler; serving on (parlance_escaped_errors_total)");
  });
}

export async function startOrExit<T>(what: string, log: Logger, start: () => Promise<T>): Promise<T> {
  try {
    const started = await start();
    guardProcess(log);
    return started;
  } catch (e) {
    exitOnConfigError(e);
    log.fatal({ err: e }, `${what} start-up failed`);
    process.exit(1);
  }
}

/** SIGTERM/SIGINT: close() within shutdownGraceMs; exit 1 anyway shutdownHardExitMs after that. */
export function closeOnSignals(what: string, log: Logger, config: Pick<Config, "shutdownGraceMs" | "shutdownHardExitMs">, close: (graceMs: number) => Promise<void>): void {
  const graceMs = config.shutdownGraceMs;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${what} shutting down`);
    const hard = setTimeout(() => process.exit(1), graceMs + config.shutdownHardExitMs);
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
