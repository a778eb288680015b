// Issue 12: the process-level policy for an exception that escapes every handler: it is logged
// with its stack, counted in /metrics (parlance_escaped_errors_total) and the process goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

test("an escaped exception and rejection are logged and counted; the process keeps running", () => {
  const child = spawnSync(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "_guard-child.ts")], { encoding: "utf8", timeout: 30_000 });
  assert.equal(child.status, 0, child.stderr);
  const lines = child.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message?: string; stack?: string } });
  const escaped = lines.filter((l) => /escaped every handler/.test(l.msg));
  assert.equal(escaped.length, 2, child.stdout);
  assert.ok(escaped.every((l) => l.level >= 50), "logged at error level");
  assert.ok(escaped.some((l) => l.err?.message === "escaped from a timer" && /_guard-child/.test(l.err.stack ?? "")), "with the stack");
  assert.ok(escaped.some((l) => l.err?.message === "escaped rejection"));
  const metrics = JSON.parse(/METRICS (.*)/.exec(child.stdout)![1]!) as string[];
  assert.ok(metrics.includes('parlance_escaped_errors_total{kind="uncaughtException"} 1'), metrics.join("\n"));
  assert.ok(metrics.includes('parlance_escaped_errors_total{kind="unhandledRejection"} 1'), metrics.join("\n"));
});
