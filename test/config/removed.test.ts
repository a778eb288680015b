// Dead settings: every setting in the schema is read by some code, and a removed one that an
// operator still sets stops start-up with a line saying why (never silently dropped).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ConfigError, FIELDS, REMOVED_SETTINGS, loadConfig } from "../../src/config/index.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

test("every setting's name is read outside the schema (a leaf nobody reads is dead)", () => {
  // Coarse on purpose: a name shared by two sections passes if either is read, so this catches a
  // setting no code mentions at all (stt.vadModel was one), not every unread one.
  const code = sources("src")
    .filter((p) => !p.endsWith(join("config", "schema.ts")))
    .map((p) => readFileSync(p, "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))
    .join("\n");
  for (const f of FIELDS) {
    const leaf = f.path[f.path.length - 1]!;
    assert.match(code, new RegExp(`\\b${leaf}\\b`), `${f.key} (${f.env}) is never read`);
  }
});

for (const r of REMOVED_SETTINGS) {
  test(`${r.key}: gone from the schema, and refused by env and by config file with why`, () => {
    assert.ok(!FIELDS.some((f) => f.key === r.key || f.env === r.env), "still a field");
    const check = (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(
        e.issues.map((i) => [i.key, i.env]),
        [[r.key, r.env]],
      );
      assert.ok(e.message.includes(r.env) && e.message.includes(r.why), e.message);
      return true;
    };
    assert.throws(() => loadConfig({ env: { [r.env]: "anything" } }), check);
    const dir = mkdtempSync(join(tmpdir(), "parlance-removed-"));
    try {
      const file = join(dir, "config.json");
      const tree: Record<string, unknown> = {};
      const path = r.key.split(".");
      path.reduce((node, k, i) => (node[k] = i === path.length - 1 ? "x" : {}) as Record<string, unknown>, tree);
      writeFileSync(file, JSON.stringify(tree));
      assert.throws(() => loadConfig({ env: {}, configFile: file }), check);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
