// Child process for the cross-process claim test: claims one job at a time until none is left,
// printing each id it got.
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { silentLogger } from "../../src/util/log.js";

const [db, name] = process.argv.slice(2);
const repo = new SqliteRepository({ path: db!, logger: silentLogger });
const far = new Date(Date.now() + 3600_000);
const out: string[] = [];
for (;;) {
  const got = await repo.claimDueJobs(name!, 1, far);
  if (got.length === 0) break;
  out.push(...got.map((j) => j.id));
  // Yield so the two processes interleave instead of one draining everything at start-up.
  await new Promise((r) => setImmediate(r));
}
await repo.close();
process.stdout.write(out.join("\n") + "\n");
