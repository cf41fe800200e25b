import { describe, expect, it } from 'vitest';
import { ElectionError, ElectionErrorCodes } from './errors.js';
import { resolveElectionOptions } from './options.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (e: unknown) {
    return e instanceof ElectionError ? e.code : 'not an ElectionError';
  }
  return undefined;
}

describe('resolveElectionOptions (rule 1, 5: configurable labels and durations)', () => {
  it('applies the Promscale-compatible defaults', () => {
    expect(resolveElectionOptions({})).toEqual({
      clusterLabel: 'cluster',
      replicaLabel: '__replica__',
      leaseTimeoutMs: 30_000,
      leaseRefreshMs: 5_000,
    });
  });

  it('takes the Prometheus Operator labels and custom durations', () => {
    expect(
      resolveElectionOptions({ clusterLabel: 'prometheus', replicaLabel: 'prometheus_replica', leaseTimeoutMs: 10_000, leaseRefreshMs: 1_000 }),
    ).toEqual({ clusterLabel: 'prometheus', replicaLabel: 'prometheus_replica', leaseTimeoutMs: 10_000, leaseRefreshMs: 1_000 });
  });

  it('rejects refresh >= timeout, bad durations and bad labels with stable codes', () => {
    expect(codeOf(() => resolveElectionOptions({ leaseRefreshMs: 30_000 }))).toBe(ElectionErrorCodes.REFRESH_NOT_BELOW_TIMEOUT);
    expect(codeOf(() => resolveElectionOptions({ leaseTimeoutMs: 4_000 }))).toBe(ElectionErrorCodes.REFRESH_NOT_BELOW_TIMEOUT);
    expect(codeOf(() => resolveElectionOptions({ leaseTimeoutMs: 0 }))).toBe(ElectionErrorCodes.INVALID_DURATION);
    expect(codeOf(() => resolveElectionOptions({ leaseRefreshMs: 1.5 }))).toBe(ElectionErrorCodes.INVALID_DURATION);
    expect(codeOf(() => resolveElectionOptions({ leaseTimeoutMs: Number.NaN }))).toBe(ElectionErrorCodes.INVALID_DURATION);
    expect(codeOf(() => resolveElectionOptions({ clusterLabel: '' }))).toBe(ElectionErrorCodes.INVALID_LABEL);
    expect(codeOf(() => resolveElectionOptions({ replicaLabel: 'cluster' }))).toBe(ElectionErrorCodes.INVALID_LABEL);
    expect(codeOf(() => resolveElectionOptions({ replicaLabel: 'a\0b' }))).toBe(ElectionErrorCodes.INVALID_LABEL);
  });
});
