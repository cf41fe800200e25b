import pg from 'pg';
import { PipelineFailure } from './pipelined.js';

/**
 * Who can make a failed call succeed: the sender (by sending something else), nobody but time or an operator
 * (the database is away, busy or misconfigured: the same call may succeed later), or the developers (a bug).
 * The service answers 4xx, 503 + Retry-After and 500 by this, so a call that can never succeed is never told to
 * retry.
 */
export type StorageFault = 'sender' | 'transient' | 'internal';

/**
 * Stable error codes of @promha/storage (the one registry of this package), each with its fault. `retryable` on
 * an error is derived from this table (`fault === 'transient'`), so the two cannot disagree.
 */
export const STORAGE_ERRORS = {
  /** The database could not be reached, the connection broke, or a connection was not granted in time. */
  STORAGE_UNAVAILABLE: 'transient',
  /** A statement ran past its timeout (server-side statement/lock timeout, or no answer at all in time). */
  STORAGE_TIMEOUT: 'transient',
  /**
   * The connection broke while COMMIT was in flight: the transaction may or may not have committed. A keyed part
   * sent again is recognised by its idempotency receipt if it did.
   */
  STORAGE_OUTCOME_UNKNOWN: 'transient',
  /** Serialization failure or deadlock: the transaction may succeed if retried. */
  STORAGE_CONFLICT: 'transient',
  /** The server is out of a resource (connections, disk, memory). */
  STORAGE_RESOURCES: 'transient',
  /** The server is shutting down, restarting or recovering, or an operator ended the session. */
  STORAGE_SHUTDOWN: 'transient',
  /** The database refuses us for a reason an operator must fix (authentication, privileges, missing database, I/O). */
  STORAGE_MISCONFIGURED: 'transient',
  /** The storage has been closed (the process is shutting down). */
  STORAGE_CLOSED: 'transient',
  /** The schema in the database is newer than this build knows: an operator must upgrade promha. */
  STORAGE_SCHEMA_TOO_NEW: 'transient',
  /** Input the database cannot store or evaluate (a NUL byte, a value too long to index, a bad regex). */
  STORAGE_INVALID_INPUT: 'sender',
  /** A read would return more series or samples than the configured limits. */
  STORAGE_READ_LIMIT: 'sender',
  /** Anything else the database reported (a statement of ours it rejects, a broken invariant): a bug. */
  STORAGE_DATABASE: 'internal',
} as const satisfies Record<string, StorageFault>;

export type StorageErrorCode = keyof typeof STORAGE_ERRORS;

/** The codes by short name, for throwing: `StorageErrorCodes.UNAVAILABLE === 'STORAGE_UNAVAILABLE'`. */
export const StorageErrorCodes = {
  UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  TIMEOUT: 'STORAGE_TIMEOUT',
  OUTCOME_UNKNOWN: 'STORAGE_OUTCOME_UNKNOWN',
  CONFLICT: 'STORAGE_CONFLICT',
  RESOURCES: 'STORAGE_RESOURCES',
  SHUTDOWN: 'STORAGE_SHUTDOWN',
  MISCONFIGURED: 'STORAGE_MISCONFIGURED',
  CLOSED: 'STORAGE_CLOSED',
  SCHEMA_TOO_NEW: 'STORAGE_SCHEMA_TOO_NEW',
  INVALID_INPUT: 'STORAGE_INVALID_INPUT',
  READ_LIMIT: 'STORAGE_READ_LIMIT',
  DATABASE: 'STORAGE_DATABASE',
} as const satisfies Record<string, StorageErrorCode>;

/** A storage failure with a stable code; its `fault` tells the service how to answer (4xx, 503, 500). */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly fault: StorageFault;
  /** `fault === 'transient'`: the same call may succeed later. */
  readonly retryable: boolean;
  readonly sqlState?: string;

  constructor(code: StorageErrorCode, message: string, options: { sqlState?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.fault = STORAGE_ERRORS[code];
    this.retryable = this.fault === 'transient';
    if (options.sqlState !== undefined) this.sqlState = options.sqlState;
  }
}

/**
 * The code of a PostgreSQL error by its SQLSTATE: exact codes first, then the class (the first two characters).
 * Classes not listed are statements of ours the database rejects (syntax, undefined objects, constraint
 * violations): bugs.
 */
export function codeOfSqlState(sqlState: string): StorageErrorCode {
  switch (sqlState) {
    case '57014': // query_canceled: statement_timeout (or an operator's pg_cancel_backend)
    case '55P03': // lock_not_available: lock_timeout
    case '25P03': // idle_in_transaction_session_timeout
      return 'STORAGE_TIMEOUT';
    case '42501': // insufficient_privilege
      return 'STORAGE_MISCONFIGURED';
    case '2201B': // invalid_regular_expression
      return 'STORAGE_INVALID_INPUT';
  }
  switch (sqlState.slice(0, 2)) {
    case '08': // connection exception
      return 'STORAGE_UNAVAILABLE';
    case '40': // transaction rollback: serialization failure, deadlock
      return 'STORAGE_CONFLICT';
    case '53': // insufficient resources
      return 'STORAGE_RESOURCES';
    case '57': // operator intervention: admin shutdown, crash shutdown, cannot connect now
      return 'STORAGE_SHUTDOWN';
    case '28': // invalid authorization
    case '3D': // invalid catalog name (no such database)
    case '58': // system error (I/O)
    case 'XX': // internal error (corruption)
    case 'F0': // configuration file error
      return 'STORAGE_MISCONFIGURED';
    case '22': // data exception (invalid encoding, out of range)
    case '54': // program limit exceeded (an index row too large for a long label value)
      return 'STORAGE_INVALID_INPUT';
    default:
      return 'STORAGE_DATABASE';
  }
}

/**
 * Maps anything thrown by pg, pg-pool or the network to a StorageError, by the error's type and code, never its
 * message: a `DatabaseError` by its SQLSTATE and severity; a Node system error (it has a `syscall`) is the network; a plain
 * `Error` raised by the driver (connection ended, connect or read timeout, client not queryable) is the
 * connection; JavaScript's own error types are bugs.
 */
export function toStorageError(e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  // A failed pipeline is classified by what failed in it (leavesConnectionBroken still sees the pipeline).
  if (e instanceof PipelineFailure) return toStorageError(e.error);
  const message = e instanceof Error ? e.message : String(e);
  if (stalePreparedStatement(e)) return new StorageError('STORAGE_CONFLICT', message, { sqlState: '0A000', cause: e });
  if (e instanceof pg.DatabaseError && typeof e.code === 'string') {
    let code = codeOfSqlState(e.code);
    // A FATAL error ends the session, never because of a statement of ours: the server refuses or dropped us
    // (a database not accepting connections, a role not allowed to log in), which an operator fixes.
    if (STORAGE_ERRORS[code] !== 'transient' && (e.severity === 'FATAL' || e.severity === 'PANIC')) code = 'STORAGE_MISCONFIGURED';
    return new StorageError(code, message, { sqlState: e.code, cause: e });
  }
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError || !(e instanceof Error)) {
    return new StorageError('STORAGE_DATABASE', message, { cause: e });
  }
  return new StorageError('STORAGE_UNAVAILABLE', message, { cause: e });
}

/**
 * Whether an error the server sent says the session is gone (connection exceptions, 08; the server shutting down or
 * an operator terminating it, 57P): after a COMMIT, nobody knows then whether it committed.
 */
export function sessionLost(sqlState: string | undefined): boolean {
  return sqlState === undefined || sqlState.startsWith('08') || sqlState.startsWith('57P');
}

/**
 * Whether a failed call left its connection in a state nobody should reuse: anything but a statement the server
 * rejected (DatabaseError) or our own validation (StorageError) may have left the socket mid-protocol.
 */
export function leavesConnectionBroken(e: unknown): boolean {
  // Whatever failed in a pipeline, its named statements may not exist and its transaction may be open (pipelined.ts).
  if (e instanceof PipelineFailure) return true;
  if (stalePreparedStatement(e)) return true;
  if (e instanceof pg.DatabaseError) return e.severity === 'FATAL' || e.severity === 'PANIC';
  return !(e instanceof StorageError) || e.code === 'STORAGE_UNAVAILABLE' || e.code === 'STORAGE_OUTCOME_UNKNOWN';
}

/**
 * A named statement (statements.ts) whose result type changed under it: another instance's migration altered a
 * table it reads ("cached plan must not change result type", raised by PostgreSQL's plan cache, routine
 * `RevalidateCachedQuery`, SQLSTATE 0A000). It fails on that connection until the statement is prepared again, so
 * the connection is dropped (the next one prepares it afresh) and the call is transient: the resend succeeds.
 */
function stalePreparedStatement(e: unknown): e is pg.DatabaseError {
  return e instanceof pg.DatabaseError && e.code === '0A000' && e.routine === 'RevalidateCachedQuery';
}
