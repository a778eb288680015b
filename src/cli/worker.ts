// `parlance worker`: runs analysis jobs that gateways queued on Redis (PARLANCE_REDIS_URL), with
// the LLM configured here; reports reach the learner through whichever gateway holds the socket.
// SIGTERM/SIGINT stop taking jobs and let running ones finish within the grace period.
import type { Command } from "commander";
import { startWorker } from "../app.js";
import { createLogger } from "../util/log.js";
import { redisDisplay } from "../jobs/redis.js";
import { addConfigOptions } from "./options.js";
import { closeOnSignals, configOrExit, startOrExit } from "./lifecycle.js";

export function registerWorkerCommand(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run analysis jobs from the Redis queue (needs PARLANCE_REDIS_URL and a shared PARLANCE_DATABASE_URL)")
    .option("--config <file>", "YAML or JSON config file (PARLANCE_CONFIG)");
  addConfigOptions(cmd);
  cmd.action(async () => {
    const config = configOrExit(cmd);
    const log = createLogger(config.logLevel);
    if (config.store.databaseUrl === undefined) {
      // Legal (one machine, one data dir), but gateways elsewhere would not see this SQLite file.
      log.warn("no PARLANCE_DATABASE_URL: the worker uses the SQLite store in the data dir, which only gateways on this machine share");
    }
    const app = await startOrExit("worker", log, () => startWorker(config, log));
    process.stdout.write(
      [
        "",
        `parlance worker ${app.worker.workerId} ready`,
        `  queue:       ${redisDisplay(config)} (prefix ${config.queue.prefix})`,
        `  llm:         ${config.llm.provider} ${app.analyzer.modelName}, concurrency ${config.analysis.concurrency}`,
        `  store:       ${app.store.kind}`,
        `  metrics:     ${app.metricsUrl}`,
      ].join("\n") + "\n\n",
    );

    closeOnSignals("worker", log, config, (grace) => app.close(grace));
  });
}
