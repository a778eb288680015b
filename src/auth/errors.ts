/** Why a token was refused. The reason is logged and counted; clients see a generic message. */
export type AuthFailureReason =
  | "malformed"
  | "too_large"
  | "bad_signature"
  | "alg_not_allowed"
  | "expired"
  | "not_yet_valid"
  | "bad_issuer"
  | "bad_audience"
  | "missing_claim"
  | "unknown_kid"
  | "jwks_unavailable"
  | "introspection_unavailable"
  | "inactive"
  | "insufficient_scope"
  | "subject_mismatch"
  | "no_verifier";

export class AuthError extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }
}
