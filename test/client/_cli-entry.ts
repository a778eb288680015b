// Runs `parlance stream` exactly as bin/parlance.js would once src/cli/main.ts registers it.
import { Command } from "commander";
import { registerStreamCommand } from "../../src/cli/stream.js";

const program = new Command().name("parlance").exitOverride();
registerStreamCommand(program);
await program.parseAsync(process.argv);
