/**
 * The ingest service's error registry: every error that crosses a module boundary carries one of these stable
 * codes and the HTTP status it is answered with. Codec errors keep their own status (400/413/415); database and
 * lease-store trouble is always 503 (retryable), never 4xx.
 */
export const INGEST_ERROR_STATUS = {
  PROMHA_INGEST_CONFIG: 500,
  /** A series carries the replica label but not the cluster label (docs/design.md rule 2). */
  PROMHA_INGEST_REPLICA_WITHOUT_CLUSTER: 400,
  /** A malformed request that is not a codec error (bad query parameter, bad selector). */
  PROMHA_INGEST_BAD_REQUEST: 400,
  /** Samples later than the future grace; the request's other samples were stored. */
  PROMHA_INGEST_TOO_FAR_IN_FUTURE: 400,
  /** The database refused the data itself (a value it cannot store): never retryable. */
  PROMHA_INGEST_INVALID_DATA: 400,
  PROMHA_INGEST_BAD_CONTENT_TYPE: 415,
  PROMHA_INGEST_BODY_TOO_LARGE: 413,
  PROMHA_INGEST_UNAUTHORIZED: 401,
  /** The in-flight sample bound is reached. */
  PROMHA_INGEST_OVERLOADED: 503,
  /** The database or the lease store failed, or no leader could be decided. */
  PROMHA_INGEST_UNAVAILABLE: 503,
  PROMHA_INGEST_NOT_READY: 503,
} as const;

export type IngestErrorCode = keyof typeof INGEST_ERROR_STATUS;

export class IngestError extends Error {
  readonly code: IngestErrorCode;
  readonly status: number;
  constructor(code: IngestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IngestError';
    this.code = code;
    this.status = INGEST_ERROR_STATUS[code];
  }
}
