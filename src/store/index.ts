// Picks the store from the configuration through the store registry: the entry whose scheme
// store.databaseUrl has (PostgreSQL for postgres://), otherwise the embedded SQLite file
// <dataDir>/parlance.db. Migrates before returning.
import type { Config } from "../config/index.js";
import type { Logger } from "../util/log.js";
import type { Repository, StoreEntry } from "./types.js";
import { StoreError } from "./errors.js";
import { sqliteStore } from "./sqlite/repository.js";
import { postgresStore } from "./postgres/repository.js";

export type * from "./types.js";
export { StoreError, NotFoundError, InvalidRecordError, CorruptRecordError } from "./errors.js";
export { SqliteRepository } from "./sqlite/repository.js";
export { PostgresRepository } from "./postgres/repository.js";

export { SQLITE_FILE } from "./sqlite/repository.js";

// The store registry. A new store is one file exporting a StoreEntry and one line here.
const stores: StoreEntry[] = [sqliteStore, postgresStore];

/** Adds a store implementation (tests, plug-ins); its schemes must be new. */
export function registerStore(entry: StoreEntry): void {
  const taken = entry.schemes.length === 0 ? stores.some((s) => s.schemes.length === 0) : stores.some((s) => s.schemes.some((x) => entry.schemes.includes(x)));
  if (taken) throw new Error(`a store for ${entry.schemes.length ? entry.schemes.join("/") + "://" : "no URL"} is registered already`);
  stores.push(entry);
}

/** The entry store.databaseUrl selects: by URL scheme, or the no-URL store. */
export function storeFor(url: string | undefined): StoreEntry {
  const scheme = url === undefined ? null : /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const entry = url === undefined ? stores.find((s) => s.schemes.length === 0) : scheme ? stores.find((s) => s.schemes.includes(scheme)) : undefined;
  if (!entry) {
    const known = stores.flatMap((s) => s.schemes.map((x) => `${x}://`));
    throw new StoreError(`store.databaseUrl (PARLANCE_DATABASE_URL) must be a ${known.join(" or ")} URL; leave it unset for SQLite`);
  }
  return entry;
}

export async function createRepository(config: Config, logger: Logger): Promise<Repository> {
  const repo = storeFor(config.store.databaseUrl).create(config, logger);
  try {
    await repo.migrate();
  } catch (e) {
    await repo.close().catch(() => undefined);
    throw e instanceof StoreError ? e : new StoreError(`store migration failed: ${(e as Error).message}`, { cause: e });
  }
  return repo;
}
