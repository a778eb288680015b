export { ConfigSchema, type Config } from "./schema.js";
export { FIELDS, REMOVED_SETTINGS, fieldByKey, describeField, describeRange, unitOf, type Field, type NumberRange, type RemovedSetting } from "./fields.js";
export { loadConfig, modelsDir, unknownEnvWarnings, NOT_SETTINGS, NOT_SETTING_PREFIXES, assertProductionReady, ConfigError, type ConfigIssue, type LoadOptions } from "./load.js";
