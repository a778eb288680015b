// The prompt versions (files in prompts/) and the default, apart from the chain so that the
// configuration can name them without loading LangChain.

export const PROMPT_VERSIONS = ["feedback-v1", "feedback-v2", "feedback-v3", "feedback-v4", "feedback-v5"] as const;
export type PromptVersion = (typeof PROMPT_VERSIONS)[number];

/**
 * The default (analysis.prompt). feedback-v2 is the more precise with the embedded 0.5B model;
 * feedback-v4 with its answer cut is ~2.6x faster and finds fewer real errors
 * (docs/bench-analysis.md, "feedback-v4 and the answer cut").
 */
export const PROMPT_VERSION: PromptVersion = "feedback-v2";

/**
 * Versions whose grammar errors come from the model's likelihoods (lm-edits.ts), not its answer.
 * They need a backend that scores text (capabilities.logProbs); on one that cannot, the analyzer
 * uses LIKELIHOOD_FALLBACK, whose errors the model writes.
 */
export const LIKELIHOOD_ERRORS: ReadonlySet<PromptVersion> = new Set(["feedback-v5"]);
export const LIKELIHOOD_FALLBACK: PromptVersion = "feedback-v2";
