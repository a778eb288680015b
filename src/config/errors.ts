/** A setting that is missing, malformed or unsafe; the message names it. The CLI exits 2 on it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
