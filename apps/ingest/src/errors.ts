/**
 * The ingest service's error registry: every error that crosses a module boundary carries one of these stable
 * codes and the HTTP status it is answered with. The status says who can fix the failure: the sender (4xx:
 * resending the same request can never succeed), the database or its operator (503 + Retry-After: the same
 * request succeeds later), or us (500). Codec errors keep their own status (400/413/415); storage errors are
 * mapped by their registry's fault (`fromStorage`), never by their message.
 */
import { StorageError } from '@promha/storage';

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
  /** A read past `--read.series-limit` / `--read.sample-limit` (Prometheus answers its read sample limit 400 too). */
  PROMHA_INGEST_READ_LIMIT: 400,
  PROMHA_INGEST_BAD_CONTENT_TYPE: 415,
  PROMHA_INGEST_BODY_TOO_LARGE: 413,
  PROMHA_INGEST_UNAUTHORIZED: 401,
  /** The in-flight sample bound is reached. */
  PROMHA_INGEST_OVERLOADED: 503,
  /** The database or the lease store failed, or no leader could be decided. */
  PROMHA_INGEST_UNAVAILABLE: 503,
  PROMHA_INGEST_NOT_READY: 503,
  /** A bug: a statement of ours the database rejects, or a broken invariant. */
  PROMHA_INGEST_INTERNAL: 500,
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

/**
 * The IngestError for a failure behind a storage port, by the StorageError's code and fault: the sender's
 * (`STORAGE_INVALID_INPUT`, `STORAGE_READ_LIMIT`) is 400, the database's or its operator's 503,
 * a bug 500. An IngestError passes through; anything else behind the port failed in a way nobody classified: 500.
 */
export function fromStorage(what: string, e: unknown): IngestError {
  if (e instanceof IngestError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  if (e instanceof StorageError) {
    const code: IngestErrorCode =
      e.code === 'STORAGE_READ_LIMIT'
        ? 'PROMHA_INGEST_READ_LIMIT'
        : e.fault === 'sender'
          ? 'PROMHA_INGEST_INVALID_DATA'
          : e.fault === 'transient'
            ? 'PROMHA_INGEST_UNAVAILABLE'
            : 'PROMHA_INGEST_INTERNAL';
    return new IngestError(code, `${what}: ${detail}`, { cause: e });
  }
  return new IngestError('PROMHA_INGEST_INTERNAL', `${what}: ${detail}`, { cause: e });
}
