import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { leavesConnectionBroken, STORAGE_ERRORS, StorageError, StorageErrorCodes, toStorageError } from './errors.js';

function dbError(sqlState: string, severity = 'ERROR'): pg.DatabaseError {
  const e = new pg.DatabaseError(`server says ${sqlState}`, 0, 'error');
  e.code = sqlState;
  e.severity = severity;
  return e;
}

describe('toStorageError', () => {
  it.each([
    ['08006', StorageErrorCodes.UNAVAILABLE, 'transient'],
    ['40001', StorageErrorCodes.CONFLICT, 'transient'],
    ['40P01', StorageErrorCodes.CONFLICT, 'transient'],
    ['53300', StorageErrorCodes.RESOURCES, 'transient'],
    ['57P01', StorageErrorCodes.SHUTDOWN, 'transient'],
    ['57P03', StorageErrorCodes.SHUTDOWN, 'transient'],
    ['57014', StorageErrorCodes.TIMEOUT, 'transient'],
    ['55P03', StorageErrorCodes.TIMEOUT, 'transient'],
    ['28P01', StorageErrorCodes.MISCONFIGURED, 'transient'],
    ['3D000', StorageErrorCodes.MISCONFIGURED, 'transient'],
    ['42501', StorageErrorCodes.MISCONFIGURED, 'transient'],
    ['22021', StorageErrorCodes.INVALID_INPUT, 'sender'],
    ['2201B', StorageErrorCodes.INVALID_INPUT, 'sender'],
    ['54000', StorageErrorCodes.INVALID_INPUT, 'sender'],
    ['42P01', StorageErrorCodes.DATABASE, 'internal'],
    ['23505', StorageErrorCodes.DATABASE, 'internal'],
  ])('maps SQLSTATE %s to %s (%s)', (state, code, fault) => {
    const e = toStorageError(dbError(state));
    expect(e).toBeInstanceOf(StorageError);
    expect(e.code).toBe(code);
    expect(e.fault).toBe(fault);
    expect(e.retryable).toBe(fault === 'transient');
    expect(e.sqlState).toBe(state);
  });

  it('classifies by type, not by message: a driver Error is the connection, a JavaScript error type is a bug', () => {
    expect(toStorageError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED', syscall: 'connect' })).code).toBe('STORAGE_UNAVAILABLE');
    // pg raises these as plain Errors; any such message means the same.
    expect(toStorageError(new Error('Connection terminated unexpectedly')).code).toBe('STORAGE_UNAVAILABLE');
    expect(toStorageError(new Error('anything else from the driver')).code).toBe('STORAGE_UNAVAILABLE');
    // A DatabaseError whose message reads like a dropped connection is still judged by its SQLSTATE.
    const looksLikeConnection = dbError('42P01');
    looksLikeConnection.message = 'Connection terminated unexpectedly';
    expect(toStorageError(looksLikeConnection).code).toBe('STORAGE_DATABASE');
    expect(toStorageError(new TypeError('x is undefined')).fault).toBe('internal');
    expect(toStorageError('a string').fault).toBe('internal');
  });

  it('treats a FATAL error the server ends the session with as the operator\'s, whatever its class', () => {
    // "database is not accepting connections" (ALTER DATABASE ... ALLOW_CONNECTIONS false).
    expect(toStorageError(dbError('55000', 'FATAL')).code).toBe('STORAGE_MISCONFIGURED');
    expect(toStorageError(dbError('55000')).code).toBe('STORAGE_DATABASE');
    expect(toStorageError(dbError('57P01', 'FATAL')).code).toBe('STORAGE_SHUTDOWN');
  });

  it('keeps a StorageError as it is and derives retryable from the registry', () => {
    const e = new StorageError('STORAGE_READ_LIMIT', 'too many');
    expect(toStorageError(e)).toBe(e);
    for (const code of Object.keys(STORAGE_ERRORS) as (keyof typeof STORAGE_ERRORS)[]) {
      expect(new StorageError(code, 'x').retryable).toBe(STORAGE_ERRORS[code] === 'transient');
    }
  });
});

describe('leavesConnectionBroken', () => {
  it('keeps connections whose statement the server rejected, discards the rest', () => {
    expect(leavesConnectionBroken(dbError('23505'))).toBe(false);
    expect(leavesConnectionBroken(dbError('57014'))).toBe(false);
    expect(leavesConnectionBroken(dbError('57P01', 'FATAL'))).toBe(true);
    expect(leavesConnectionBroken(new Error('Query read timeout'))).toBe(true);
    expect(leavesConnectionBroken(new StorageError('STORAGE_INVALID_INPUT', 'nul'))).toBe(false);
    expect(leavesConnectionBroken(new StorageError('STORAGE_OUTCOME_UNKNOWN', 'commit'))).toBe(true);
  });
});
