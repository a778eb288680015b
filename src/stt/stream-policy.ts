// The speech stream's policy, derived from config.stt only: the schema holds every default once,
// and DEFAULT_POLICY is what an empty config gives (tests and benches start from it).
import { ConfigSchema, type Config } from "../config/schema.js";
import type { EnergyVadOptions } from "../audio/vad.js";
import type { GuardOptions } from "./policy.js";

export interface StreamPolicy {
  updateMs: number;
  /** The first decode after silence comes this soon after the audio it follows: the first partial is what tells a learner they are heard. */
  firstUpdateMs: number;
  maxWindowMs: number;
  utteranceEndMs: number;
  promptTailChars: number;
  /** Start every prompt from VERBATIM_PROMPTS[language] (when there is one) before committed text. */
  verbatimPrompt: boolean;
  /** Consecutive failed decodes after which the stream's error is fatal (0 = never). */
  maxConsecutiveFailures: number;
  /** Audio kept before detected speech so the first syllable is not cut. */
  preRollMs: number;
  /**
   * Commit rule: words that this many consecutive decodes agree on are committed (LocalAgreement-n);
   * 0 = no early commits, each utterance is committed whole when it ends (or the window fills).
   */
  agreement: number;
  /** Events the consumer may leave unread before the stream fails. */
  maxPendingEvents: number;
  guards: GuardOptions;
  vad?: EnergyVadOptions;
}

export function policyFromConfig(config: Pick<Config, "stt">, guards?: Partial<GuardOptions>): StreamPolicy {
  const s = config.stt;
  // The schema refuses values below these settings' floors; none is bent into range here.
  return {
    updateMs: s.updateMs,
    firstUpdateMs: s.firstUpdateMs,
    maxWindowMs: s.maxWindowMs,
    utteranceEndMs: s.utteranceEndMs,
    promptTailChars: s.promptTailChars,
    verbatimPrompt: s.verbatimPrompt,
    maxConsecutiveFailures: s.maxConsecutiveFailures,
    preRollMs: s.preRollMs,
    agreement: s.agreement,
    maxPendingEvents: s.maxPendingEvents,
    guards: {
      // Unset = off (docs/bench-stt-accuracy.md: at -1 it dropped real learner speech).
      logprobThreshold: s.logprobThreshold ?? -Infinity,
      noSpeechThreshold: s.noSpeechThreshold,
      noSpeechLogprobThreshold: s.noSpeechLogprobThreshold,
      suppressHallucinations: s.suppressHallucinations,
      ...guards,
    },
  };
}

/** The policy of an empty config. */
export const DEFAULT_POLICY: StreamPolicy = policyFromConfig(ConfigSchema.parse({}));
export const DEFAULT_GUARDS: GuardOptions = DEFAULT_POLICY.guards;
