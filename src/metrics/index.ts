export * from "./events.js";
export { Metrics } from "./prometheus.js";
