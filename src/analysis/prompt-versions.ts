// The prompt versions (files in prompts/) and the default, apart from the chain so that the
// configuration can name them without loading LangChain.

export const PROMPT_VERSIONS = ["feedback-v1", "feedback-v2", "feedback-v3", "feedback-v4", "feedback-v5"] as const;
export type PromptVersion = (typeof PROMPT_VERSIONS)[number];

/**
 * The default (analysis.prompt). feedback-v5: the embedded model writes the level and the
 * strength, and its likelihoods find the grammar errors (lm-edits.ts). On JFLEG, against
 * feedback-v2's written edits: precision 0.62 vs 0.50, recall 0.075 vs 0.013, the complete report
 * of a 30 s answer 4.2-4.8 s after `end` vs 8.0 s (docs/bench-analysis.md, "Errors from likelihoods").
 * Backends that cannot score text use LIKELIHOOD_FALLBACK.
 */
export const PROMPT_VERSION: PromptVersion = "feedback-v5";

/**
 * Versions whose grammar errors come from the model's likelihoods (lm-edits.ts), not its answer.
 * They need a backend that scores text (capabilities.logProbs); on one that cannot, the analyzer
 * uses LIKELIHOOD_FALLBACK, whose errors the model writes.
 */
export const LIKELIHOOD_ERRORS: ReadonlySet<PromptVersion> = new Set(["feedback-v5"]);
export const LIKELIHOOD_FALLBACK: PromptVersion = "feedback-v2";
