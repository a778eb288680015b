// `parlance worker`: runs analysis jobs that gateways queued on Redis (PARLANCE_REDIS_URL), with
// the LLM configured here; reports reach the learner through whichever gateway holds the socket.
// SIGTERM/SIGINT stop taking jobs and let running ones finish within the grace period.
import type { Command } from "commander";
import { startWorker } from "../app.js";
import { createLogger } from "../util/log.js";
import { ConfigError } from "../config/index.js";
import { redisDisplay } from "../jobs/redis.js";
import { addConfigOptions, configFromCommand } from "./options.js";

export function registerWorkerCommand(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run analysis jobs from the Redis queue (needs PARLANCE_REDIS_URL and a shared PARLANCE_DATABASE_URL)")
    .option("--config <file>", "YAML or JSON config file (PARLANCE_CONFIG)");
  addConfigOptions(cmd);
  cmd.action(async () => {
    let config;
    try {
      config = configFromCommand(cmd);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(e.message);
        process.exit(2);
      }
      throw e;
    }
    const log = createLogger(config.logLevel);
    if (config.store.databaseUrl === undefined) {
      // Legal (one machine, one data dir), but gateways elsewhere would not see this SQLite file.
      log.warn("no PARLANCE_DATABASE_URL: the worker uses the SQLite store in the data dir, which only gateways on this machine share");
    }
    let app;
    try {
      app = await startWorker(config, log);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(e.message);
        process.exit(2);
      }
      log.fatal({ err: e }, "worker start-up failed");
      process.exit(1);
    }
    process.stdout.write(
      [
        "",
        `parlance worker ${app.worker.workerId} ready`,
        `  queue:       ${redisDisplay(config)} (prefix ${config.queue.prefix})`,
        `  llm:         ${config.llm.provider} ${app.analyzer.modelName}, concurrency ${config.analysis.concurrency}`,
        `  store:       ${app.store.kind}`,
      ].join("\n") + "\n\n",
    );

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "worker shutting down");
      const hard = setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000);
      hard.unref();
      app.close(config.shutdownGraceMs).then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "worker shutdown failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}
