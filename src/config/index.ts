export { ConfigSchema, type Config } from "./schema.js";
export { FIELDS, fieldByKey, describeRange, type Field, type NumberRange } from "./fields.js";
export { loadConfig, modelsDir, assertProductionReady, ConfigError, type ConfigIssue, type LoadOptions } from "./load.js";
