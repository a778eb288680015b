// Starts a throwaway real PostgreSQL server for tests: Debian's binaries, a temp data dir,
// 127.0.0.1 on a free port, trust auth, stopped and removed by stop() (and on process exit, so
// a failing test file never leaves a server behind).
//
// PARLANCE_TEST_DATABASE_URL=postgres://... uses an existing server instead (each call then gets
// a fresh database on it). Missing binaries are an error, never a skip: the store must be tested
// on PostgreSQL (`apt-get install -y postgresql`).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { freePort } from "./ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface TestPostgres {
  /** Connection URL of the server's `postgres` database. */
  url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

export function findPostgresBin(): string {
  const override = process.env.PARLANCE_PG_BIN;
  if (override) return override;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install them with `apt-get install -y postgresql` " +
        "(or set PARLANCE_PG_BIN, or PARLANCE_TEST_DATABASE_URL to an existing server)",
    );
  }
  return join(root, versions[0]!, "bin");
}

function pgUser(): { uid: number; gid: number } | null {
  // initdb refuses to run as root; as root, the cluster belongs to the `postgres` system user.
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const u = id("-u");
  const g = id("-g");
  if (u.status !== 0 || g.status !== 0) throw new Error("running as root but there is no `postgres` user to own the test cluster");
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function runAs(user: { uid: number; gid: number } | null, cmd: string, args: string[]) {
  const [file, argv] = user ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? "")).trim()}`);
  }
  return r;
}

let dbCounter = 0;
function databaseFactory(url: string) {
  return async (name = `t_${process.pid}_${Date.now().toString(36)}_${dbCounter++}`) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
    } finally {
      await c.end();
    }
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };
}

export async function startPostgres(): Promise<TestPostgres> {
  const external = process.env.PARLANCE_TEST_DATABASE_URL;
  if (external) return { url: external, createDatabase: databaseFactory(external), stop: async () => undefined };

  const bin = findPostgresBin();
  const user = pgUser();
  const dir = mkdtempSync(join(tmpdir(), "parlance-pg-"));
  const data = join(dir, "data");
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  let started = false;
  const stopSync = () => {
    if (started) {
      started = false;
      try {
        runAs(user, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // already gone: nothing left to stop
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stopSync);
  try {
    runAs(user, join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
    const port = await freePort();
    // fsync off and a small footprint: it is a throwaway cluster on a shared 2-core machine.
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=50`;
    runAs(user, join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "server.log"), "-o", opts, "-w", "-t", "60", "start"]);
    started = true;
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return {
      url,
      createDatabase: databaseFactory(url),
      stop: async () => {
        process.removeListener("exit", stopSync);
        stopSync();
      },
    };
  } catch (e) {
    process.removeListener("exit", stopSync);
    stopSync();
    throw e;
  }
}
