// The `parlance` command line.
import { Command } from "commander";
import { registerServeCommand } from "./serve.js";
import { registerTokenCommands } from "./tokens.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name("parlance").description("self-hosted real-time speech service for language learners").showHelpAfterError();
  registerServeCommand(program);
  registerTokenCommands(program);
  await program.parseAsync(argv);
}
