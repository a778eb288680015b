// Bounds on the claims a token carries into a session (JWT payload or introspection answer alike):
// the subject keys sessions and store rows, level and locale reach the LLM's prompt.
import type { Config } from "../config/index.js";

export type ClaimLimits = Pick<Config["jwt"], "maxSubjectChars" | "maxClaimChars">;

/** The subject if it can key sessions: a non-empty string of at most jwt.maxSubjectChars. */
export function usableSubject(v: unknown, limits: ClaimLimits): string | undefined {
  return typeof v === "string" && v.length > 0 && v.length <= limits.maxSubjectChars ? v : undefined;
}

/** An optional text claim (level, locale): kept when it is a string of at most jwt.maxClaimChars. */
export function shortClaim(v: unknown, limits: ClaimLimits): string | undefined {
  return typeof v === "string" && v.length <= limits.maxClaimChars ? v : undefined;
}
