// Derives each setting's public env name and command-line flag from its path in ConfigSchema, and
// reads its default, bounds, enum values and unit back out of the schema, so the schema stays the
// one list of settings and the one place each default and bound is written (errors, --help and
// docs/configuration.md all come from here). A few env names are fixed by the public contract.
import type { z } from "zod";
import { ConfigSchema } from "./schema.js";

export interface Field {
  path: string[];
  key: string; // dotted path, e.g. "stt.threads"
  env: string; // e.g. PARLANCE_STT_THREADS
  flag: string; // e.g. stt-threads (used as --stt-threads)
  kind: "boolean" | "value";
  /** The leaf's own default (the only place it is written); undefined = unset by default. */
  default: unknown;
  /** Numbers only: the bounds the schema accepts (null = unbounded on that side). */
  range?: NumberRange;
  /** Enums only: the accepted values. */
  values?: readonly string[];
  /** The leaf's schema, wrappers included (docs describe its type from it). */
  schema: z.ZodType;
  /** The unit its name says (...Ms: "ms"), or null. */
  unit: string | null;
}

export interface NumberRange {
  min: number | null;
  max: number | null;
  integer: boolean;
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

export type AnyDef = { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; in?: z.ZodType; out?: z.ZodType; defaultValue?: unknown; format?: string };
export const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: AnyDef } })._zod.def;

export function unwrap(s: z.ZodType): z.ZodType {
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

/** The value a default or prefault wrapper around the leaf gives when the setting is absent. */
function leafDefault(s: z.ZodType): unknown {
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (d.type === "default" || d.type === "prefault") return d.defaultValue;
    if ((d.type === "optional" || d.type === "nullable") && d.innerType) cur = d.innerType;
    else return undefined;
  }
}

type Check = { _zod: { def: { check: string; value?: number; inclusive?: boolean; format?: string } } };

function numberRange(s: z.ZodType): NumberRange | undefined {
  const d = defOf(unwrap(s)) as AnyDef & { checks?: Check[] };
  if (d.type !== "number") return undefined;
  const checks = (d.checks ?? []).map((c) => c._zod.def);
  const integer = checks.some((c) => c.check === "number_format" && (c.format === "safeint" || c.format === "int32"));
  const r: NumberRange = { min: null, max: null, integer };
  for (const c of checks) {
    if (c.check !== "greater_than" && c.check !== "less_than") continue;
    // positive() is "> 0": said as ">= 1" for integers; a fractional setting keeps inclusive bounds.
    if (!c.inclusive && !r.integer) throw new Error(`${String(c.value)}: give number settings inclusive bounds (min/max)`);
    const v = c.value! + (c.inclusive ? 0 : c.check === "greater_than" ? 1 : -1);
    if (c.check === "greater_than") r.min = r.min === null ? v : Math.max(r.min, v);
    else r.max = r.max === null ? v : Math.min(r.max, v);
  }
  return r;
}

/** "an integer from 0 to 65535", "a number >= 0": the allowed values, as an error message says them. */
export function describeRange(r: NumberRange): string {
  const what = r.integer ? "an integer" : "a number";
  if (r.min !== null && r.max !== null) return `${what} from ${r.min} to ${r.max}`;
  if (r.min !== null) return `${what} >= ${r.min}`;
  if (r.max !== null) return `${what} <= ${r.max}`;
  return what;
}

function enumValues(s: z.ZodType): string[] | undefined {
  const d = defOf(unwrap(s)) as AnyDef & { entries?: Record<string, string> };
  return d.type === "enum" && d.entries ? Object.values(d.entries) : undefined;
}

/** Names older than the suffix rule. */
const UNIT_OF: Record<string, string> = { "llm.contextSize": "tokens" };

/** The unit a setting's name ends in, by the project's naming rule. */
export function unitOf(key: string): string | null {
  if (UNIT_OF[key]) return UNIT_OF[key];
  const leaf = key.split(".").pop()!;
  if (/Tokens$/.test(leaf)) return "tokens";
  if (/Ms$/.test(leaf)) return "ms";
  if (/[a-z]S$/.test(leaf)) return "s";
  if (/Bytes$/.test(leaf)) return "bytes";
  if (/Days$/.test(leaf)) return "days";
  if (/Chars$/.test(leaf)) return "characters";
  return null;
}

/** "default 1000 ms, an integer >= 100": what `--help` says after the env name. */
export function describeField(f: Field): string {
  const parts: string[] = [];
  if (f.default !== undefined && !(Array.isArray(f.default) && f.default.length === 0)) parts.push(`default ${Array.isArray(f.default) ? f.default.join(",") : String(f.default)}${f.unit ? ` ${f.unit}` : ""}`);
  if (f.values) parts.push(f.values.join("|"));
  else if (f.range) parts.push(describeRange(f.range));
  return parts.join(", ");
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
    default: leafDefault(schema),
    range: numberRange(schema),
    values: enumValues(schema),
    schema,
    unit: unitOf(key),
  });
}

export const FIELDS: readonly Field[] = (() => {
  const out: Field[] = [];
  walk(ConfigSchema, [], out);
  return out;
})();

export const fieldByKey = new Map(FIELDS.map((f) => [f.key, f]));

/**
 * Settings that existed and are gone. Setting one stops start-up with `why` (ConfigError) rather
 * than a warning: each was accepted while doing nothing, so an operator who set it believes in an
 * effect they do not have, and a log line is easy to miss; the fix is deleting one line.
 * docs/configuration.md ("Removed settings") has one line per entry.
 */
export interface RemovedSetting {
  key: string;
  env: string;
  why: string;
}

export const REMOVED_SETTINGS: readonly RemovedSetting[] = [
  {
    key: "stt.vadModel",
    env: "PARLANCE_STT_VAD_MODEL",
    why: "removed: it was never read; voice activity is detected by the built-in energy VAD (docs/stt-engine.md), there is no Silero model to choose",
  },
];
