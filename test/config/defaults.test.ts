// Every setting's default is written once, on its leaf in ConfigSchema: loading with nothing set
// gives exactly the leaves' defaults, and no section repeats them in a default object of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { z } from "zod";
import { ConfigSchema, FIELDS, loadConfig } from "../../src/config/index.js";

type Def = { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; defaultValue?: unknown };
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

function at(tree: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], tree);
}

test("an empty environment gives every leaf's own default", () => {
  const config = loadConfig({ env: {} });
  assert.ok(FIELDS.length > 50, "the schema walk found the settings");
  for (const f of FIELDS) assert.deepEqual(at(config, f.path), f.default, f.key);
  // Nothing outside the walk: the loaded tree has no leaf the fields do not list.
  const leaves: string[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (node && typeof node === "object" && !Array.isArray(node)) for (const [k, v] of Object.entries(node)) visit(v, [...path, k]);
    else leaves.push(path.join("."));
  };
  visit(config, []);
  const keys = new Set(FIELDS.map((f) => f.key));
  for (const l of leaves) assert.ok(keys.has(l), `${l} is loaded but not a field`);
});

test("no section's default object repeats a leaf's value: each is {}", () => {
  const sections: string[] = [];
  const walk = (s: z.ZodType, path: string[]) => {
    let cur = s;
    for (;;) {
      const d = defOf(cur);
      if (d.type === "default" || d.type === "prefault") {
        const inner = defOf(d.innerType!);
        if (inner.type === "object") {
          assert.deepEqual(d.defaultValue, {}, `section ${path.join(".")} writes defaults of its own: give them to its leaves only`);
          assert.equal(d.type, "prefault", `section ${path.join(".")}: .default({}) skips the leaves' defaults; use .prefault({})`);
          sections.push(path.join("."));
        }
      }
      if ((d.type === "default" || d.type === "prefault" || d.type === "optional" || d.type === "nullable") && d.innerType) cur = d.innerType;
      else break;
    }
    const d = defOf(cur);
    if (d.type === "object") for (const [k, v] of Object.entries(d.shape!)) walk(v, [...path, k]);
  };
  walk(ConfigSchema, []);
  assert.ok(sections.includes("stt") && sections.includes("limits"), `found sections: ${sections.join(", ")}`);
});
