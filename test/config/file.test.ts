// A config file's keys are settings or sections: anything else (a typo, a setting that never
// existed) stops start-up naming it, where zod alone would drop it and run on the default.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import fc from "fast-check";
import { ConfigError, FIELDS, NOT_SETTINGS, NOT_SETTING_PREFIXES, REMOVED_SETTINGS, loadConfig } from "../../src/config/index.js";

function withFile<T>(tree: unknown, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "parlance-config-"));
  try {
    const file = join(dir, "parlance.json");
    writeFileSync(file, JSON.stringify(tree));
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const keys = new Set(FIELDS.map((f) => f.key));
const sections = [...new Set(FIELDS.filter((f) => f.path.length > 1).map((f) => f.path[0]!))];

test("a file setting every known leaf is read; one unknown key next to them is refused by its path", () => {
  withFile({ stt: { updateMs: 800 }, limits: { maxConnections: 7 }, port: 9443 }, (file) => {
    const c = loadConfig({ env: {}, configFile: file });
    assert.deepEqual([c.stt.updateMs, c.limits.maxConnections, c.port], [800, 7, 9443]);
  });
  withFile({ stt: { updateMs: 800, updatems: 500 } }, (file) =>
    assert.throws(
      () => loadConfig({ env: {}, configFile: file }),
      (e: unknown) => e instanceof ConfigError && e.issues.length === 1 && e.issues[0]!.key === "stt.updatems" && e.message.includes(file),
    ),
  );
});

test("generated keys that name no setting are refused, at the top level and inside every section", () => {
  fc.assert(
    fc.property(fc.constantFrom(null, ...sections), fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,12}$/), (section, name) => {
      const key = section ? `${section}.${name}` : name;
      fc.pre(!keys.has(key) && !sections.includes(key) && key !== "stt.vadModel");
      const tree = section ? { [section]: { [name]: "1" } } : { [name]: "1" };
      withFile(tree, (file) =>
        assert.throws(
          () => loadConfig({ env: {}, configFile: file }),
          (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.key === key),
        ),
      );
    }),
    { numRuns: 200, seed: 1414 },
  );
});

test("a PARLANCE_* variable that is no setting is warned about by name, with the setting it resembles", () => {
  const warnings: string[] = [];
  const c = loadConfig({ env: { PARLANCE_STT_UPDATEMS: "500", PARLANCE_STT_UPDATE_MS: "800", PARLANCE_URL: "wss://x", PARLANCE_TEST_DATABASE_URL: "y", HOME: "/root" }, warn: (w) => warnings.push(w) });
  assert.equal(c.stt.updateMs, 800);
  assert.deepEqual(warnings, ["PARLANCE_STT_UPDATEMS is not a setting (PARLANCE_STT_UPDATE_MS?); ignored (docs/configuration.md lists them)"]);
  // Every setting's own name passes without a word.
  const quiet: string[] = [];
  loadConfig({ env: Object.fromEntries(FIELDS.filter((f) => f.kind === "boolean").map((f) => [f.env, "0"])), warn: (w) => quiet.push(w) });
  assert.deepEqual(quiet, []);
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/), (tail) => {
      const name = `PARLANCE_${tail}`;
      fc.pre(!FIELDS.some((f) => f.env === name) && !REMOVED_SETTINGS.some((r) => r.env === name));
      const seen: string[] = [];
      loadConfig({ env: { [name]: "x" }, warn: (w) => seen.push(w) });
      const exempt = NOT_SETTINGS.has(name) || NOT_SETTING_PREFIXES.some((p) => name.startsWith(p));
      assert.deepEqual(seen.map((w) => w.split(" ")[0]), exempt ? [] : [name]);
    }),
    { numRuns: 200, seed: 1416 },
  );
});
