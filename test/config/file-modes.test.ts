// Issue 12: the files parlance creates in its data dir are its own: the SQLite database (and its
// WAL), the dev certificate and key, the dev secret are 0600, in directories created 0700; a
// database left world-readable by an older version is narrowed at the next start.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SqliteRepository } from "../../src/store/index.js";
import { devSecret, writeDevKeys } from "../../src/auth/dev.js";
import { ensureDevCertificate } from "../../src/transport/tls.js";
import { silentLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers/gateway.js";

const mode = (p: string) => statSync(p).mode & 0o777;
const octal = (m: number) => "0" + m.toString(8);

// Even with a permissive umask the modes hold (they are not left to the umask).
const oldUmask = process.umask(0o000);
test.after(() => process.umask(oldUmask));

test("SQLite database, WAL and shared-memory files are 0600 in a 0700 directory", async () => {
  const dir = join(tempDir(), "data", "nested");
  const path = join(dir, "parlance.db");
  const repo = new SqliteRepository({ path, logger: silentLogger });
  await repo.migrate();
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(f)) assert.equal(octal(mode(f)), "0600", f);
  }
  assert.ok(existsSync(`${path}-wal`), "WAL mode: the -wal file exists while open");
  assert.equal(octal(mode(dir)), "0700");
  assert.equal(octal(mode(join(dir, ".."))), "0700");
  await repo.close();
});

test("a world-readable database from an older version is narrowed to 0600 when opened", async () => {
  const dir = tempDir();
  const path = join(dir, "parlance.db");
  writeFileSync(path, "");
  chmodSync(path, 0o644);
  const repo = new SqliteRepository({ path, logger: silentLogger });
  await repo.migrate();
  assert.equal(octal(mode(path)), "0600");
  await repo.close();
});

test("dev secret, dev certificate and key, dev key pair: 0600 / 0700", async () => {
  const data = join(tempDir(), "fresh");
  devSecret(data);
  assert.equal(octal(mode(join(data, "dev-jwt-secret"))), "0600");
  assert.equal(octal(mode(data)), "0700");

  const tls = await ensureDevCertificate(data);
  assert.equal(octal(mode(tls.key)), "0600");
  assert.equal(octal(mode(tls.cert)), "0600");
  assert.equal(octal(mode(join(data, "tls"))), "0700");

  // A key left readable (older version, a copy) is narrowed when the certificate is reused.
  chmodSync(tls.key, 0o644);
  chmodSync(join(data, "dev-jwt-secret"), 0o644);
  await ensureDevCertificate(data);
  devSecret(data);
  assert.equal(octal(mode(tls.key)), "0600");
  assert.equal(octal(mode(join(data, "dev-jwt-secret"))), "0600");

  const keys = await writeDevKeys(join(data, "keys"));
  assert.equal(octal(mode(keys.files[0]!)), "0600", "private.pem");
  assert.equal(octal(mode(join(data, "keys"))), "0700");
});
