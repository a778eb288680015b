// One pino logger for the process. Tokens and secrets never reach the log (redact paths below).
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string = process.env.PARLANCE_LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service: "parlance" },
    redact: {
      paths: ["token", "*.token", "authorization", "*.authorization", "headers.authorization", "secret", "*.secret", "apiKey", "*.apiKey"],
      censor: "[redacted]",
    },
  });
}

/** For tests and library use: a logger that writes nothing. */
export const silentLogger: Logger = pino({ level: "silent" });
