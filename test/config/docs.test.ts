// docs/configuration.md is the schema's own reference: its generated part is what
// scripts/config-doc.ts makes of ConfigSchema now, and every setting has a meaning written on its
// line of src/config/schema.ts. A failure here: run `npm run docs:config`, or comment the setting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FIELDS, REMOVED_SETTINGS } from "../../src/config/index.js";
import { DOC, renderDoc, schemaComments } from "../../scripts/config-doc.js";

test("docs/configuration.md's settings reference is the one generated from the schema", () => {
  const current = readFileSync(DOC, "utf8");
  assert.equal(current, renderDoc(current), "docs/configuration.md is stale: run `npm run docs:config`");
  for (const f of FIELDS) assert.ok(current.includes(`| \`${f.key}\` | \`${f.env}\``), f.key);
  for (const r of REMOVED_SETTINGS) assert.ok(current.includes(`\`${r.key}\` (\`${r.env}\`): ${r.why}`), r.key);
});

test("every setting says what it means, on its line of schema.ts", () => {
  const comments = schemaComments();
  const missing = FIELDS.filter((f) => !(comments.get(f.key) ?? "").trim()).map((f) => f.key);
  assert.deepEqual(missing, [], "write a comment (why, and what 0 or unset means) above these settings");
});
