// `parlance serve`: start the gateway, print what a developer needs (URL, fingerprint, dev token)
// and shut down cleanly on SIGTERM/SIGINT within the configured grace period.
import type { Command } from "commander";
import { startApp } from "../app.js";
import { createLogger } from "../util/log.js";
import { ConfigError } from "../config/index.js";
import { addConfigOptions, configFromCommand } from "./options.js";

export function registerServeCommand(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve https + wss (protocol v1 on /v1/stream)")
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
    let app;
    try {
      app = await startApp(config, log);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(e.message);
        process.exit(2);
      }
      log.fatal({ err: e }, "start-up failed");
      process.exit(1);
    }
    const fp = app.gateway.fingerprint();
    const lines = [
      "",
      `parlance ${config.dev ? "(dev mode) " : ""}listening on ${app.gateway.url}`,
      `  stream:      ${app.gateway.wsUrl}`,
      `  practice:    ${app.gateway.url}/`,
    ];
    if (fp) lines.push(`  certificate: SHA-256 ${fp}${app.tlsGenerated ? " (new self-signed dev certificate)" : ""}`);
    if (app.devToken) lines.push(`  dev token:   ${await app.devToken()}`, "               (valid 1 h; `parlance token --sub NAME` mints more)");
    process.stdout.write(lines.join("\n") + "\n\n");

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      const hard = setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000);
      hard.unref();
      app.close(config.shutdownGraceMs).then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}
