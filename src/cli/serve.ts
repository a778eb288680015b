// `parlance serve`: start the gateway, print what a developer needs (URL, fingerprint, dev token)
// and shut down cleanly on SIGTERM/SIGINT within the configured grace period.
import type { Command } from "commander";
import { startApp } from "../app.js";
import { assertProductionReady } from "../config/index.js";
import { createLogger } from "../util/log.js";
import { addConfigOptions } from "./options.js";
import { closeOnSignals, configOrExit, startOrExit } from "./lifecycle.js";
import { ensureFirstRunModels } from "../models/first-run.js";

export function registerServeCommand(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve https + wss (protocol v1 on /v1/stream)")
    .option("--config <file>", "YAML or JSON config file (PARLANCE_CONFIG)")
    .option("--pull", "dev mode: download the missing default models before starting, without asking (PARLANCE_AUTO_PULL=1)");
  addConfigOptions(cmd);
  cmd.action(async () => {
    const config = configOrExit(cmd);
    // First start (dev mode): fetch or explain missing models before anything loads them.
    await ensureFirstRunModels(config, {
      pull: Boolean(cmd.opts<{ pull?: boolean }>().pull) || config.models.autoPull,
      interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
      out: process.stderr,
    });
    const log = createLogger(config.logLevel);
    const app = await startOrExit("gateway", log, () => startApp(config, log));
    const fp = app.gateway.fingerprint();
    const lines = [
      "",
      `parlance ${config.dev ? "(dev mode) " : ""}listening on ${app.gateway.url}`,
      `  stream:      ${app.gateway.wsUrl}`,
      `  practice:    ${app.gateway.url}/`,
    ];
    if (fp) lines.push(`  certificate: SHA-256 ${fp}${app.tlsGenerated ? " (new self-signed dev certificate)" : ""}`);
    if (app.devToken) lines.push(`  dev token:   ${await app.devToken()}`, "               (valid 1 h, a subject of its own; `parlance token --dev` mints more)");
    // Overrides in use were logged by startApp; the banner repeats them where a person looks.
    for (const w of assertProductionReady(config)) lines.push(`  WARNING: ${w}`);
    process.stdout.write(lines.join("\n") + "\n\n");

    closeOnSignals("gateway", log, config, (grace) => app.close(grace));
  });
}
