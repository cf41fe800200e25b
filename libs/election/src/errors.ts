/**
 * The error registry of `@promha/election`: every error that leaves this package carries one of these stable
 * codes. Expected protocol outcomes (not leader, store unavailable) are {@link Decision} values, not errors.
 */
export const ElectionErrorCodes = {
  /** A label name option is empty, or cluster and replica label are the same. */
  INVALID_LABEL: 'HA_ERR_INVALID_LABEL',
  /** A duration option is not a positive safe integer. */
  INVALID_DURATION: 'HA_ERR_INVALID_DURATION',
  /** `leaseRefreshMs` is not below `leaseTimeoutMs` (docs/design.md rule 5). */
  REFRESH_NOT_BELOW_TIMEOUT: 'HA_ERR_REFRESH_NOT_BELOW_TIMEOUT',
} as const;

export type ElectionErrorCode = (typeof ElectionErrorCodes)[keyof typeof ElectionErrorCodes];

/** Configuration error of the election (raised once, at startup). */
export class ElectionError extends Error {
  readonly code: ElectionErrorCode;

  constructor(code: ElectionErrorCode, message: string) {
    super(message);
    this.name = 'ElectionError';
    this.code = code;
  }
}
