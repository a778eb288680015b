import type { NumberRange } from "./fields.js";

/** One rejected setting: which one, by every name an operator may have used, and why. */
export interface ConfigIssue {
  /** Dotted path in the schema ("stt.updateMs"); "" where the problem is not one setting's. */
  key: string;
  env?: string;
  flag?: string;
  message: string;
  /** A number outside its bounds: the bounds the schema accepts. */
  range?: NumberRange;
}

/** A setting that is missing, malformed or unsafe; the message names it. The CLI exits 2 on it. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
