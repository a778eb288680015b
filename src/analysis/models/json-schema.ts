// zod -> the JSON-schema subset node-llama-cpp turns into a GBNF grammar. zod 4 writes `anyOf` for
// unions/nullables and numeric/pattern constraints the grammar cannot express: `anyOf` becomes
// `oneOf`, the rest is dropped here and enforced by the zod parse that always follows.
import { z } from "zod";

type Json = Record<string, unknown>;
const KEEP = new Set(["type", "properties", "required", "items", "prefixItems", "enum", "const", "oneOf", "minItems", "maxItems", "minLength", "maxLength", "description", "additionalProperties", "$defs", "$ref"]);

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (!node || typeof node !== "object") return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === "anyOf") out.oneOf = clean(v);
    else if (k === "properties" || k === "$defs") out[k] = Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, clean(pv)]));
    else if (KEEP.has(k)) out[k] = clean(v);
  }
  // An integer with no other constraint is fine; "additionalProperties: false" keeps the grammar closed.
  if (out.type === "object" && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

export function isZodSchema(s: unknown): s is z.ZodType {
  return !!s && typeof s === "object" && "_zod" in (s as object);
}

/** JSON schema for a zod schema (or a JSON schema passed through), reduced to the grammar subset. */
export function grammarJsonSchema(schema: z.ZodType | Json): Json {
  const json = isZodSchema(schema) ? (z.toJSONSchema(schema, { target: "draft-2020-12", io: "output" }) as Json) : schema;
  return clean(json) as Json;
}

/** A provider-side parse failure as StructuredResult.error reads: kind and a bounded message. */
export function parseProblem(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  return `${err.name}: ${err.message.slice(0, 300)}`;
}
