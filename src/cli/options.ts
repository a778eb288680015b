// Adds every setting as a flag (--stt-threads, --jwt-secret, ...) and turns parsed flags back into
// the dotted keys loadConfig expects, so flags and env names can never drift apart.
import type { Command } from "commander";
import { FIELDS, describeField, loadConfig, type Config } from "../config/index.js";

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

export function addConfigOptions(cmd: Command): Command {
  for (const f of FIELDS) {
    const about = describeField(f);
    const help = `(${f.env}${about ? `; ${about}` : ""})`;
    if (f.kind === "boolean") cmd.option(`--${f.flag}`, help);
    else cmd.option(`--${f.flag} <value>`, help);
  }
  return cmd;
}

export function configFromCommand(cmd: Command, overrides: Record<string, unknown> = {}): Config {
  const opts = cmd.opts<Record<string, unknown>>();
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = opts[camel(f.flag)];
    if (v !== undefined) flags[f.key] = v;
  }
  return loadConfig({ flags: { ...flags, ...overrides }, configFile: opts.config as string | undefined, warn: (w) => console.error(`WARNING: ${w}`) });
}
