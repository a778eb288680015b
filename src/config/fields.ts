// Derives each setting's public env name and command-line flag from its path in ConfigSchema, so
// the schema stays the one list of settings. A few env names are fixed by the public contract.
import type { z } from "zod";
import { ConfigSchema } from "./schema.js";

export interface Field {
  path: string[];
  key: string; // dotted path, e.g. "stt.threads"
  env: string; // e.g. PARLANCE_STT_THREADS
  flag: string; // e.g. stt-threads (used as --stt-threads)
  kind: "boolean" | "value";
}

const ENV_OVERRIDES: Record<string, string> = {
  "jwt.jwksUrl": "PARLANCE_JWKS_URL",
  "jwt.introspectionUrl": "PARLANCE_INTROSPECTION_URL",
  "jwt.introspectionClientId": "PARLANCE_INTROSPECTION_CLIENT_ID",
  "jwt.introspectionClientSecret": "PARLANCE_INTROSPECTION_CLIENT_SECRET",
  "store.databaseUrl": "PARLANCE_DATABASE_URL",
  "queue.redisUrl": "PARLANCE_REDIS_URL",
  "models.autoPull": "PARLANCE_AUTO_PULL",
};

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

type AnyDef = { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; in?: z.ZodType; out?: z.ZodType };
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: AnyDef } })._zod.def;

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if ((d.type === "default" || d.type === "prefault" || d.type === "optional" || d.type === "nullable") && d.innerType) cur = d.innerType;
    else return cur;
  }
}

function isBoolean(s: z.ZodType): boolean {
  const d = defOf(unwrap(s));
  if (d.type === "boolean") return true;
  if (d.type === "pipe" && d.out) return defOf(unwrap(d.out)).type === "boolean";
  return false;
}

function walk(schema: z.ZodType, path: string[], out: Field[]) {
  const d = defOf(unwrap(schema));
  if (d.type === "object" && d.shape) {
    for (const [k, v] of Object.entries(d.shape)) walk(v, [...path, k], out);
    return;
  }
  const key = path.join(".");
  out.push({
    path,
    key,
    env: ENV_OVERRIDES[key] ?? "PARLANCE_" + path.map(snake).join("_"),
    flag: path.map(kebab).join("-"),
    kind: isBoolean(schema) ? "boolean" : "value",
  });
}

export const FIELDS: readonly Field[] = (() => {
  const out: Field[] = [];
  walk(ConfigSchema, [], out);
  return out;
})();

export const fieldByKey = new Map(FIELDS.map((f) => [f.key, f]));
