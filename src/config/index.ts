export { ConfigSchema, type Config } from "./schema.js";
export { FIELDS, REMOVED_SETTINGS, fieldByKey, describeRange, type Field, type NumberRange, type RemovedSetting } from "./fields.js";
export { loadConfig, modelsDir, assertProductionReady, ConfigError, type ConfigIssue, type LoadOptions } from "./load.js";
