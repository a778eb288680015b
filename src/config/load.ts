// Builds the configuration from (lowest to highest precedence) defaults, a config file (YAML or
// JSON), PARLANCE_* environment variables and command-line flags, then validates it in one place.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigSchema, type Config } from "./schema.js";
import type { z } from "zod";
import { FIELDS, REMOVED_SETTINGS, fieldByKey, describeRange } from "./fields.js";
import { ConfigError, type ConfigIssue } from "./errors.js";

export { ConfigError, type ConfigIssue };
export { assertProductionReady } from "./safety.js";

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Flag values keyed by dotted setting path ("stt.threads"), as parsed by the CLI. */
  flags?: Record<string, unknown>;
  configFile?: string;
  /** Told about PARLANCE_* variables that are no setting (a typo is otherwise silently ignored). */
  warn?: (message: string) => void;
}

/**
 * PARLANCE_* variables that are read, but are not settings: the config file's name, the
 * `parlance stream` client's, and the test, bench and model-fetch scripts'. The environment is
 * shared with them, so an unknown name is a warning, not a refusal.
 */
export const NOT_SETTINGS: ReadonlySet<string> = new Set([
  "PARLANCE_CONFIG",
  "PARLANCE_URL",
  "PARLANCE_TOKEN",
  "PARLANCE_AUDIO_DIR",
  "PARLANCE_CHROMIUM",
  "PARLANCE_FETCH_BASE",
  "PARLANCE_REAL_MODELS_DIR",
  "PARLANCE_SHARED_DIR",
  "PARLANCE_SHARED_TOOLS",
  "PARLANCE_WHEEL_CACHE",
  "PARLANCE_PG_BIN",
  "PARLANCE_REDIS_SERVER_BIN",
]);
/** Prefixes of the test suite's own variables. */
export const NOT_SETTING_PREFIXES: readonly string[] = ["PARLANCE_TEST_", "PARLANCE_FUZZ_"];

/** "PARLANCE_STT_UPDATEMS is not a setting (PARLANCE_STT_UPDATE_MS?); ignored" for each such variable. */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = new Map(FIELDS.map((f) => [f.env.replace(/_/g, ""), f.env]));
  const removed = new Set(REMOVED_SETTINGS.map((r) => r.env));
  return Object.keys(env)
    .filter((k) => k.startsWith("PARLANCE_") && !NOT_SETTINGS.has(k) && !NOT_SETTING_PREFIXES.some((p) => k.startsWith(p)) && !removed.has(k) && !FIELDS.some((f) => f.env === k))
    .sort()
    .map((k) => {
      const near = known.get(k.replace(/_/g, ""));
      return `${k} is not a setting${near ? ` (${near}?)` : ""}; ignored (docs/configuration.md lists them)`;
    });
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string[], value: unknown) {
  let node = tree;
  for (const p of path.slice(0, -1)) {
    if (typeof node[p] !== "object" || node[p] === null) node[p] = {};
    node = node[p] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function mergeDeep(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b)
        ? mergeDeep(b as Tree, v as Tree)
        : v;
  }
  return out;
}

function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
  }
  try {
    const parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("top level must be a mapping");
    return parsed as Tree;
  } catch (e) {
    throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
  }
}

/**
 * Keys of a config file that name no setting (a typo, or a setting that was never there) are
 * refused: zod would drop them, and the operator would run on a default they think they changed.
 */
function refuseUnknownKeys(tree: Tree, file: string): void {
  const sections = new Set(FIELDS.flatMap((f) => f.path.slice(0, -1).map((_, i) => f.path.slice(0, i + 1).join("."))));
  const removed = new Set(REMOVED_SETTINGS.map((r) => r.key));
  const unknown: string[] = [];
  const visit = (node: Tree, path: string[]) => {
    for (const [k, v] of Object.entries(node)) {
      const key = [...path, k].join(".");
      if (fieldByKey.has(key) || removed.has(key)) continue;
      if (!sections.has(key)) unknown.push(key);
      else if (v && typeof v === "object" && !Array.isArray(v)) visit(v as Tree, [...path, k]); // else: the schema names the wrong type
    }
  };
  visit(tree, []);
  if (unknown.length) {
    throw new ConfigError(
      `config file ${file}: no such setting${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")} (docs/configuration.md lists them)`,
      unknown.map((key) => ({ key, message: "no such setting" })),
    );
  }
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  for (const w of opts.warn ? unknownEnvWarnings(env) : []) opts.warn!(w);
  const file = opts.configFile ?? env.PARLANCE_CONFIG;
  let tree: Tree = file ? readConfigFile(resolve(file)) : {};
  if (file) refuseUnknownKeys(tree, resolve(file));

  const fromEnv: Tree = {};
  for (const f of FIELDS) {
    const v = env[f.env];
    if (v !== undefined && v !== "") setPath(fromEnv, f.path, v);
  }
  const fromFlags: Tree = {};
  for (const [key, v] of Object.entries(opts.flags ?? {})) {
    const f = fieldByKey.get(key);
    if (!f) throw new ConfigError(`unknown setting "${key}"`);
    if (v !== undefined) setPath(fromFlags, f.path, v);
  }
  tree = mergeDeep(mergeDeep(tree, fromEnv), fromFlags);
  refuseRemoved(tree, env);

  const parsed = ConfigSchema.safeParse(tree);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(toIssue);
    const lines = issues.map((i) => `  ${i.env ? `${i.key} (${i.env} / --${i.flag})` : i.key || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`, issues);
  }
  return parsed.data;
}

/** A removed setting set anywhere (file, env) is refused by name: unknown keys are otherwise dropped. */
function refuseRemoved(tree: Tree, env: NodeJS.ProcessEnv): void {
  const issues: ConfigIssue[] = [];
  for (const r of REMOVED_SETTINGS) {
    const inFile = r.key.split(".").reduce<unknown>((node, k) => (node && typeof node === "object" ? (node as Tree)[k] : undefined), tree) !== undefined;
    if (inFile || (env[r.env] !== undefined && env[r.env] !== "")) issues.push({ key: r.key, env: r.env, message: r.why });
  }
  if (issues.length) throw new ConfigError(`invalid configuration:\n${issues.map((i) => `  ${i.key} (${i.env}): ${i.message}`).join("\n")}`, issues);
}

function toIssue(i: z.core.$ZodIssue): ConfigIssue {
  const key = i.path.join(".");
  // A list entry's issue has its index in the path ("trustedProxies.0"): name the setting.
  let f = fieldByKey.get(key);
  for (let n = i.path.length - 1; !f && n > 0; n--) f = fieldByKey.get(i.path.slice(0, n).join("."));
  if (!f) return { key, message: i.message };
  // Out of bounds: say the whole allowed range, not only the side that was crossed.
  const range = (i.code === "too_small" || i.code === "too_big") && f.range ? f.range : undefined;
  return { key, env: f.env, flag: f.flag, message: range ? `${i.message} (allowed: ${describeRange(range)})` : i.message, range };
}

export function modelsDir(config: Config): string {
  return resolve(config.modelsDir ?? resolve(config.dataDir, "models"));
}
