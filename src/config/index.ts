export { ConfigSchema, type Config } from "./schema.js";
export { FIELDS, fieldByKey, type Field } from "./fields.js";
export { loadConfig, modelsDir, assertProductionReady, ConfigError, type LoadOptions } from "./load.js";
