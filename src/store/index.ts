// Picks the store from the configuration: PostgreSQL when store.databaseUrl is a postgres:// URL,
// otherwise the embedded SQLite file <dataDir>/parlance.db. Migrates before returning.
import { resolve } from "node:path";
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import type { Repository } from "./types.js";
import { StoreError } from "./errors.js";
import { SqliteRepository } from "./sqlite/repository.js";
import { PostgresRepository } from "./postgres/repository.js";

export type * from "./types.js";
export { StoreError, NotFoundError, InvalidRecordError, CorruptRecordError } from "./errors.js";
export { SqliteRepository } from "./sqlite/repository.js";
export { PostgresRepository } from "./postgres/repository.js";
export { startAudioRetention, type RetentionHandle } from "./retention.js";

export const SQLITE_FILE = "parlance.db";

export async function createRepository(config: Config, logger: Logger): Promise<Repository> {
  const url = config.store.databaseUrl;
  let repo: Repository;
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw new StoreError("store.databaseUrl (PARLANCE_DATABASE_URL) must be a postgres:// or postgresql:// URL; leave it unset for SQLite");
    }
    repo = new PostgresRepository({ connectionString: url, logger });
    logger.info({ store: "postgres" }, "store: postgresql");
  } else {
    const path = resolve(config.dataDir, SQLITE_FILE);
    repo = new SqliteRepository({ path, logger });
    logger.info({ store: "sqlite", path }, "store: sqlite");
  }
  try {
    await repo.migrate();
  } catch (e) {
    await repo.close().catch(() => undefined);
    throw e instanceof StoreError ? e : new StoreError(`store migration failed: ${(e as Error).message}`, { cause: e });
  }
  return repo;
}
