// The shared-secret rules on generated inputs: what a generator prints passes, what a person
// types (words, repeats, placeholders, short alphabets) is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { secretWeakness, estimateSecretBits, KNOWN_EXAMPLE_SECRETS, MIN_SECRET_BITS } from "../../src/config/secrets.js";

const SEED = 1212;

test("random 32..64-byte secrets as base64, base64url or hex pass (crypto randomness, 3000 samples)", () => {
  let worst = Infinity;
  for (let i = 0; i < 3000; i++) {
    const bytes = randomBytes(32 + (i % 33));
    for (const enc of ["base64", "base64url", "hex"] as const) {
      const s = bytes.toString(enc);
      assert.equal(secretWeakness(s), null, `${enc} ${s}`);
      worst = Math.min(worst, estimateSecretBits(s));
    }
  }
  // The margin matters: a generator's output must never be refused by bad luck.
  assert.ok(worst > MIN_SECRET_BITS * 1.3, `worst estimate ${worst}`);
});

test("published examples are refused however they are cased or punctuated", () => {
  fc.assert(
    fc.property(fc.constantFrom(...KNOWN_EXAMPLE_SECRETS), fc.boolean(), fc.constantFrom("", "-", "_", " "), (s, upper, sep) => {
      const variant = (upper ? s.toUpperCase() : s).replace(/-/g, sep);
      assert.notEqual(secretWeakness(variant.padEnd(32, sep || "!")), null, variant);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test("a placeholder word inside random text is refused", () => {
  const markers = ["changeme", "CHANGE_ME", "replace-me", "REPLACE_WITH", "placeholder", "example", "your-secret", "password", "at least 32", "openssl rand"];
  fc.assert(
    fc.property(fc.constantFrom(...markers), fc.nat({ max: 40 }), (marker, at) => {
      const noise = randomBytes(40).toString("base64url");
      const s = noise.slice(0, at) + marker + noise.slice(at);
      assert.match(secretWeakness(s) ?? "", /placeholder/, s);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test("repeated patterns and tiny alphabets are refused whatever their length", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 6 }), fc.integer({ min: 32, max: 200 }), (unit, len) => {
      const s = unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
      if (Buffer.byteLength(s) < 32) return;
      assert.notEqual(secretWeakness(s), null, JSON.stringify(s));
    }),
    { seed: SEED, numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.array(fc.constantFrom("a", "b", "1"), { minLength: 32, maxLength: 80 }), (chars) => {
      assert.notEqual(secretWeakness(chars.join("")), null);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test("too short is refused before anything else, and the message never echoes the secret", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 31 }).filter((s) => Buffer.byteLength(s) < 32), (s) => {
      const why = secretWeakness(s) ?? "";
      assert.match(why, /at least 32/);
      if (s.length >= 4) assert.ok(!why.includes(s));
    }),
    { seed: SEED, numRuns: 300 },
  );
});
