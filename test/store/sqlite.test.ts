import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { silentLogger } from "../../src/util/log.js";
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { createRepository } from "../../src/store/index.js";
import { ConfigSchema } from "../../src/config/index.js";
import { repositoryContract } from "./contract.js";
import { streamConfig } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "parlance-sqlite-"));
const file = join(dir, "contract.db");

repositoryContract("sqlite", {
  async open() {
    const r = new SqliteRepository({ path: file, logger: silentLogger });
    await r.migrate();
    return r;
  },
  async openSecond() {
    const r = new SqliteRepository({ path: file, logger: silentLogger });
    await r.migrate();
    return r;
  },
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
  async corruptReport(repo, jobId, json) {
    const db = (repo as unknown as { db: { prepare(s: string): { run(...a: unknown[]): unknown } } }).db;
    db.prepare("UPDATE reports SET report = ? WHERE job_id = ?").run(json, jobId);
  },
});

test("sqlite: createRepository puts parlance.db in the data dir, WAL, versioned migrations", async () => {
  const d = mkdtempSync(join(tmpdir(), "parlance-cfg-"));
  try {
    const repo = await createRepository(ConfigSchema.parse({ dataDir: join(d, "nested") }), silentLogger);
    assert.equal(repo.kind, "sqlite");
    assert.equal((repo as SqliteRepository).path, join(d, "nested", "parlance.db"));
    assert.equal(await (repo as SqliteRepository).schemaVersion(), 1);
    const db = (repo as unknown as { db: { pragma(s: string, o: { simple: true }): unknown } }).db;
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("synchronous", { simple: true }), 1); // NORMAL
    assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    await repo.close();
    // Re-open: migrations are not re-applied, data persists.
    const again = new SqliteRepository({ path: join(d, "nested", "parlance.db"), logger: silentLogger });
    await again.migrate();
    assert.equal(await again.schemaVersion(), 1);
    await again.close();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("sqlite: a later migration is applied once, on top of the existing data", async () => {
  const d = mkdtempSync(join(tmpdir(), "parlance-mig-"));
  try {
    const repo = new SqliteRepository({ path: join(d, "m.db"), logger: silentLogger });
    await repo.migrate();
    await repo.createSession({ id: "s1", subject: "a", config: streamConfig, claims: {}, createdAt: new Date().toISOString() });
    const { SQLITE_MIGRATIONS } = await import("../../src/store/sqlite/migrations.js");
    const next = [...SQLITE_MIGRATIONS, { version: 2, name: "add-note", sql: "ALTER TABLE sessions ADD COLUMN note TEXT" }];
    repo.migrateWith(next);
    repo.migrateWith(next); // a second run would fail on the duplicate column if it re-applied
    assert.equal(await repo.schemaVersion(), 2);
    assert.ok(await repo.getSession("s1"));
    await repo.close();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("sqlite: claims are atomic across processes", async () => {
  const d = mkdtempSync(join(tmpdir(), "parlance-xproc-"));
  const db = join(d, "x.db");
  try {
    const repo = new SqliteRepository({ path: db, logger: silentLogger });
    await repo.migrate();
    await repo.createSession({ id: "s", subject: "a", config: streamConfig, claims: {}, createdAt: new Date().toISOString() });
    for (let i = 0; i < 60; i++) await repo.createJob({ id: `j${i}`, sessionId: "s", scope: "session", segmentFrom: null, segmentTo: null });
    await repo.close();
    const worker = new URL("./claim-worker.ts", import.meta.url).pathname;
    const run = (name: string) =>
      new Promise<string[]>((resolve, reject) => {
        const p = spawn(process.execPath, ["--import", "tsx", worker, db, name], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        p.stdout.on("data", (b) => (out += b));
        p.stderr.on("data", (b) => (err += b));
        p.on("error", reject);
        p.on("exit", (code) => (code === 0 ? resolve(out.split("\n").filter(Boolean)) : reject(new Error(`worker ${name} exit ${code}: ${err}`))));
      });
    const [a, b] = await Promise.all([run("A"), run("B")]);
    const all = [...a, ...b];
    assert.equal(all.length, 60);
    assert.equal(new Set(all).size, 60, "a job was claimed by both processes");
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("retention: startAudioRetention purges audio older than store.audioRetentionDays", async () => {
  const { startAudioRetention } = await import("../../src/store/index.js");
  const repo = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await repo.migrate();
  await repo.createSession({ id: "s", subject: "a", config: streamConfig, claims: {}, createdAt: new Date().toISOString() });
  await repo.appendAudio("s", 0, Buffer.from([1, 2]));
  const h = startAudioRetention(repo, ConfigSchema.parse({ store: { keepAudio: true, audioRetentionDays: 2 } }), silentLogger);
  try {
    assert.equal(await h.runOnce(new Date()), 0, "fresh audio kept");
    assert.equal(await h.runOnce(new Date(Date.now() + 3 * 86_400_000)), 1, "three days later it is past retention");
    assert.equal(await repo.getAudio("s"), null);
  } finally {
    await h.stop();
    await repo.close();
  }
});
