// The `parlance` command line.
import { Command } from "commander";
import { loadConfig } from "../config/index.js";
import { registerServeCommand } from "./serve.js";
import { registerTokenCommands } from "./tokens.js";
import { registerModelsCommands } from "./models.js";
import { registerCurriculumCommands } from "./curriculum.js";
import { registerStreamCommand } from "./stream.js";
import { registerWorkerCommand } from "./worker.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name("parlance").description("self-hosted real-time speech service for language learners").showHelpAfterError();
  registerServeCommand(program);
  registerWorkerCommand(program);
  registerTokenCommands(program);
  registerModelsCommands(program, () => loadConfig());
  registerCurriculumCommands(program, () => loadConfig());
  registerStreamCommand(program);
  await program.parseAsync(argv);
}
