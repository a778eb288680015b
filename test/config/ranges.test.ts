// A number setting outside its range is refused at load, naming the setting (env var and flag)
// and the whole allowed range; nothing is bent into range silently. Values are generated per
// field from the bounds the schema itself declares.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, FIELDS, describeRange, loadConfig, type Field } from "../../src/config/index.js";

const ranged = FIELDS.filter((f): f is Field & { range: NonNullable<Field["range"]> } => f.range !== undefined);
const BIG = 1e12; // the far end for an unbounded side: past any real setting, still a safe integer

function value(integer: boolean, min: number, max: number): fc.Arbitrary<number> {
  return integer ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

/** Settings bounded by another one: that one is set out of the way while this one is generated. */
const COMPANIONS: Record<string, Record<string, string>> = {
  "analysis.retryBaseMs": { PARLANCE_ANALYSIS_RETRY_MAX_MS: String(BIG) },
  "analysis.retryMaxMs": { PARLANCE_ANALYSIS_RETRY_BASE_MS: "0" },
};

function load(f: Field, v: number) {
  return loadConfig({ env: { ...COMPANIONS[f.key], [f.env]: String(v) } });
}

test("the bounded number settings include the ones that used to be clamped", () => {
  const keys = new Set(ranged.filter((f) => f.range.min !== null || f.range.max !== null).map((f) => f.key));
  for (const k of ["stt.updateMs", "stt.firstUpdateMs", "stt.maxWindowMs", "stt.utteranceEndMs", "limits.maxFrameBytes", "port"]) assert.ok(keys.has(k), k);
});

for (const f of ranged) {
  const { min, max, integer } = f.range;
  test(`${f.key}: every value in ${describeRange(f.range)} is accepted`, () => {
    fc.assert(
      fc.property(value(integer, min ?? -BIG, max ?? BIG), (v) => {
        const got = (load(f, v) as unknown as Record<string, Record<string, number>>)[f.path[0]!];
        assert.equal(f.path.length === 1 ? got : got![f.path[1]!], Number(String(v))); // -0 is read back as 0
      }),
      { numRuns: 40 },
    );
  });
  if (min === null && max === null) continue;
  test(`${f.key}: every value outside ${describeRange(f.range)} is refused with its name and range`, () => {
    const outside = [min !== null ? value(integer, -BIG, integer ? min - 1 : min - 1e-6) : null, max !== null ? value(integer, integer ? max + 1 : max + 1e-6, BIG) : null].filter(
      (a): a is fc.Arbitrary<number> => a !== null,
    );
    fc.assert(
      fc.property(fc.oneof(...outside), (v) => {
        assert.throws(
          () => load(f, v),
          (e: unknown) => {
            assert.ok(e instanceof ConfigError);
            const issue = e.issues.find((i) => i.key === f.key);
            assert.ok(issue, `${v}: ${e.message}`);
            assert.equal(issue.env, f.env);
            assert.deepEqual(issue.range, f.range);
            assert.match(e.message, new RegExp(`${f.env}.*allowed: ${describeRange(f.range)}`));
            return true;
          },
        );
      }),
      { numRuns: 40 },
    );
  });
}

test("analysis.retryBaseMs above analysis.retryMaxMs is refused, naming both (it would silently mean the cap)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e9 }), (base, max) => {
      const env = { PARLANCE_ANALYSIS_RETRY_BASE_MS: String(base), PARLANCE_ANALYSIS_RETRY_MAX_MS: String(max) };
      if (base <= max) return assert.equal(loadConfig({ env }).analysis.retryBaseMs, base);
      assert.throws(
        () => loadConfig({ env }),
        (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.env === "PARLANCE_ANALYSIS_RETRY_BASE_MS" && /PARLANCE_ANALYSIS_RETRY_MAX_MS/.test(i.message)),
      );
    }),
    { numRuns: 100 },
  );
});
