import { describe, expect, it } from 'vitest';
import { StorageError, StorageErrorCodes, toStorageError } from './errors.js';

function pgError(code: string): Error {
  return Object.assign(new Error(`pg ${code}`), { code });
}

describe('toStorageError', () => {
  it.each([
    ['08006', StorageErrorCodes.UNAVAILABLE, true],
    ['40001', StorageErrorCodes.CONFLICT, true],
    ['40P01', StorageErrorCodes.CONFLICT, true],
    ['53300', StorageErrorCodes.RESOURCES, true],
    ['57P01', StorageErrorCodes.SHUTDOWN, true],
    ['22021', StorageErrorCodes.INVALID_INPUT, false],
    ['2201B', StorageErrorCodes.INVALID_INPUT, false],
    ['54000', StorageErrorCodes.INVALID_INPUT, false],
    ['22008', StorageErrorCodes.INVALID_INPUT, false],
    ['42P01', StorageErrorCodes.DATABASE, false],
  ])('maps SQLSTATE %s to %s (retryable %s)', (state, code, retryable) => {
    const e = toStorageError(pgError(state));
    expect(e).toBeInstanceOf(StorageError);
    expect(e.code).toBe(code);
    expect(e.retryable).toBe(retryable);
    expect(e.sqlState).toBe(state);
  });

  it('treats socket errors and dropped connections as retryable unavailability', () => {
    expect(toStorageError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })).retryable).toBe(true);
    expect(toStorageError(new Error('Connection terminated unexpectedly')).code).toBe(StorageErrorCodes.UNAVAILABLE);
    expect(toStorageError(new Error('something odd')).retryable).toBe(false);
  });
});
