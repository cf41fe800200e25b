/** Stable error codes of @promha/storage (the one registry of this package). */
export const StorageErrorCodes = {
  /** The database could not be reached or the connection broke. */
  UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  /** Serialization failure or deadlock: the transaction may succeed if retried. */
  CONFLICT: 'STORAGE_CONFLICT',
  /** The server is out of a resource (connections, disk, memory). */
  RESOURCES: 'STORAGE_RESOURCES',
  /** The server is shutting down or the statement was cancelled by an operator. */
  SHUTDOWN: 'STORAGE_SHUTDOWN',
  /** The schema in the database is newer than this build knows. */
  SCHEMA_TOO_NEW: 'STORAGE_SCHEMA_TOO_NEW',
  /** Input the database cannot store or evaluate (a NUL byte, a bad or too complex regex, a row over a limit). */
  INVALID_INPUT: 'STORAGE_INVALID_INPUT',
  /** The storage has been closed. */
  CLOSED: 'STORAGE_CLOSED',
  /** Anything else the database reported. */
  DATABASE: 'STORAGE_DATABASE',
} as const;

export type StorageErrorCode = (typeof StorageErrorCodes)[keyof typeof StorageErrorCodes];

/** A storage failure with a stable code; `retryable` tells the service to answer 503 rather than 4xx/500. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly retryable: boolean;
  readonly sqlState?: string;

  constructor(code: StorageErrorCode, message: string, options: { retryable: boolean; sqlState?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.retryable = options.retryable;
    if (options.sqlState !== undefined) this.sqlState = options.sqlState;
  }
}

const NODE_CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Maps anything thrown by pg (or the network) to a StorageError; SQLSTATE classes decide `retryable`. */
export function toStorageError(e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) {
    // No SQLSTATE: a socket-level failure, a dropped connection or a pool timeout. All worth retrying.
    const connectionish =
      (code !== undefined && NODE_CONNECTION_ERRORS.has(code)) ||
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
    return connectionish
      ? new StorageError(StorageErrorCodes.UNAVAILABLE, message, { retryable: true, cause: e })
      : new StorageError(StorageErrorCodes.DATABASE, message, { retryable: false, cause: e });
  }
  const sqlState = code;
  const make = (c: StorageErrorCode, retryable: boolean): StorageError => new StorageError(c, message, { retryable, sqlState, cause: e });
  if (sqlState.startsWith('08')) return make(StorageErrorCodes.UNAVAILABLE, true);
  if (sqlState === '40001' || sqlState === '40P01') return make(StorageErrorCodes.CONFLICT, true);
  if (sqlState.startsWith('53')) return make(StorageErrorCodes.RESOURCES, true);
  if (sqlState.startsWith('57P')) return make(StorageErrorCodes.SHUTDOWN, true);
  if (sqlState === '57014') return make(StorageErrorCodes.SHUTDOWN, true);
  // Data exceptions (class 22: bad encoding, bad regex, out-of-range values) and program limits (class 54: an
  // index row or a regex too large) are the input's fault: resending the same input can never succeed.
  if (sqlState.startsWith('22') || sqlState.startsWith('54')) return make(StorageErrorCodes.INVALID_INPUT, false);
  return make(StorageErrorCodes.DATABASE, false);
}
