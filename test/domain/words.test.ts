// The one normalizeWord and joinWords (src/domain/words.ts), on generated tokens.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { joinWords, normalizeWord } from "../../src/domain/words.js";

const token = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom("Hello,", "don't", "Don\u2019t", "well-known", "Amara.org", "'em", "...", ",", "U.S.", "—", "  spaced  ", ""),
);

test("normalizeWord is idempotent, lower-case, and keeps inner apostrophes, hyphens and dots", () => {
  fc.assert(
    fc.property(token, (w) => {
      const n = normalizeWord(w);
      assert.equal(normalizeWord(n), n);
      assert.equal(n, n.toLowerCase());
      assert.ok(!/^[^\p{L}\p{N}]|[^\p{L}\p{N}]$/u.test(n), `edges of ${JSON.stringify(n)}`);
    }),
  );
  assert.equal(normalizeWord("Don\u2019t"), "don't");
  assert.equal(normalizeWord("Amara.org"), "amara.org");
  assert.equal(normalizeWord("well-known,"), "well-known");
  assert.equal(normalizeWord("..."), "");
});

test("joinWords: offsets index the text exactly; one space between words, none before attached punctuation", () => {
  fc.assert(
    fc.property(fc.array(token, { maxLength: 12 }), (ws) => {
      const { text, offsets } = joinWords(ws.map((word) => ({ word })));
      assert.equal(offsets.length, ws.length);
      ws.forEach((w, i) => assert.equal(text.slice(offsets[i]!.start, offsets[i]!.end), w.trim()));
      assert.ok(!/\s\s/.test(text) || ws.some((w) => /\s\s/.test(w.trim())), "no double space from joining");
      assert.equal(text, text.trim() === text ? text : text.trim());
    }),
  );
  assert.equal(joinWords([{ word: "Hello" }, { word: "," }, { word: "world" }, { word: "!" }]).text, "Hello, world!");
  assert.equal(joinWords([{ word: " I " }, { word: "" }, { word: "go" }]).text, "I go");
});
