// Start-up import: the configured curriculum dir, or in dev mode the bundled sample curriculum.
import { fileURLToPath } from "node:url";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import type { Repository } from "../store/types.js";
import { importCurriculum, type ImportResult } from "./import.js";

/** examples/curriculum in this package, whatever the working directory. */
export const DEFAULT_CURRICULUM_DIR = fileURLToPath(new URL("../../examples/curriculum/", import.meta.url));

/** Returns null when there is nothing to import (production without curriculum.dir). */
export async function importConfiguredCurriculum(repo: Repository, config: Config, logger: Logger): Promise<ImportResult | null> {
  const dir = config.curriculum.dir ?? (config.dev ? DEFAULT_CURRICULUM_DIR : undefined);
  if (!dir) return null;
  return importCurriculum(repo, dir, logger);
}
