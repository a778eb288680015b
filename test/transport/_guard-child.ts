// Child process for process-guard.test.ts: installs the process guard the way `parlance serve`
// does, lets an exception and a rejection escape, and prints what /metrics would report.
import { guardProcess } from "../../src/cli/lifecycle.js";
import { Metrics } from "../../src/transport/metrics.js";
import { createLogger } from "../../src/util/log.js";

guardProcess(createLogger("info"));
const metrics = new Metrics({ defaultMetrics: false });
setTimeout(() => {
  throw new Error("escaped from a timer");
}, 10);
setTimeout(() => void Promise.reject(new Error("escaped rejection")), 20);
setTimeout(async () => {
  const text = await metrics.registry.metrics();
  process.stdout.write(`METRICS ${JSON.stringify(text.split("\n").filter((l) => l.startsWith("parlance_escaped_errors_total")))}\n`);
  process.exit(0);
}, 200);
