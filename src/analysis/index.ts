export { createAnalyzer, deterministicReport, LlmAnalyzer, type AnalyzerDeps } from "./analyzer.js";
export { LlmUnavailableError, type Analyzer, type AnalysisInput } from "./types.js";
export { createLlmBackend, llmProvider, registerLlmProvider, DEFAULT_EMBEDDED_MODEL, resolveModelPath, type LlmBackend, type LlmCapabilities, type LlmProvider } from "./models/factory.js";
export { ChatNodeLlamaCpp, EmbeddedRuntime } from "./models/embedded.js";
export { PROMPT_VERSION } from "./chain.js";
