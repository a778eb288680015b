import { test, after } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/util/log.js";
import { PostgresRepository } from "../../src/store/postgres/repository.js";
import { createRepository } from "../../src/store/index.js";
import { ConfigSchema } from "../../src/config/index.js";
import { StoreError } from "../../src/store/errors.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { repositoryContract } from "./contract.js";

// One real server for the whole file (started on first use); a fresh database for each group.
let serverP: Promise<TestPostgres> | null = null;
const pgServer = () => (serverP ??= startPostgres());
after(async () => {
  if (serverP) await (await serverP).stop();
});

let current = "";
repositoryContract("postgres", {
  async open() {
    current = await (await pgServer()).createDatabase();
    const r = new PostgresRepository({ connectionString: current, logger: silentLogger });
    await r.migrate();
    return r;
  },
  async openSecond() {
    const r = new PostgresRepository({ connectionString: current, logger: silentLogger });
    await r.migrate();
    return r;
  },
  async corruptReport(repo, jobId, json) {
    const q = (repo as unknown as { q(sql: string, args: unknown[]): Promise<unknown> }).q.bind(repo);
    await q("UPDATE reports SET report = $1::jsonb WHERE job_id = $2", [json, jobId]);
  },
});

test("postgres: createRepository picks PostgreSQL for a postgres:// URL; concurrent migrations apply once", async () => {
  const url = await (await pgServer()).createDatabase();
  const cfg = ConfigSchema.parse({ store: { databaseUrl: url } });
  const [a, b] = await Promise.all([createRepository(cfg, silentLogger), createRepository(cfg, silentLogger)]);
  try {
    assert.equal(a.kind, "postgres");
    assert.equal(await (a as PostgresRepository).schemaVersion(), 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test("postgres: a non-postgres URL is a configuration error", async () => {
  await assert.rejects(createRepository(ConfigSchema.parse({ store: { databaseUrl: "mysql://x" } }), silentLogger), StoreError);
});
