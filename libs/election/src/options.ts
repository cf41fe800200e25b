import { ElectionError, ElectionErrorCodes } from './errors.js';

/** Public, all-optional election options (`--ha.*` flags). */
export interface ElectionOptions {
  /** Label naming the HA cluster (`--ha.cluster-label`), default `cluster`. */
  readonly clusterLabel?: string;
  /** Label naming the replica within a cluster (`--ha.replica-label`), default `__replica__`. */
  readonly replicaLabel?: string;
  /** Lease timeout in ms, in data time and in wall time (`--ha.lease-timeout`), default 30000. */
  readonly leaseTimeoutMs?: number;
  /** Refresh interval in ms (`--ha.lease-refresh`), default 5000; must be below the timeout. */
  readonly leaseRefreshMs?: number;
}

/** Fully resolved and validated options. */
export interface ResolvedElectionOptions {
  readonly clusterLabel: string;
  readonly replicaLabel: string;
  readonly leaseTimeoutMs: number;
  readonly leaseRefreshMs: number;
}

export const DEFAULT_ELECTION_OPTIONS: ResolvedElectionOptions = {
  clusterLabel: 'cluster',
  replicaLabel: '__replica__',
  leaseTimeoutMs: 30_000,
  leaseRefreshMs: 5_000,
};

function duration(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new ElectionError(ElectionErrorCodes.INVALID_DURATION, `${name} must be a positive integer of ms, got ${String(v)}`);
  }
  return v;
}

function label(name: string, value: string | undefined, fallback: string): string {
  const v = value ?? fallback;
  if (v.length === 0 || v.includes('\0')) {
    throw new ElectionError(ElectionErrorCodes.INVALID_LABEL, `${name} must be a non-empty label name without NUL bytes`);
  }
  return v;
}

/**
 * Resolves the public options into the required form, once, at startup.
 * @throws ElectionError when a label is empty, both labels are equal, a duration is not a positive integer or
 *   the refresh interval is not below the timeout.
 */
export function resolveElectionOptions(options: ElectionOptions = {}): ResolvedElectionOptions {
  const d = DEFAULT_ELECTION_OPTIONS;
  const clusterLabel = label('clusterLabel', options.clusterLabel, d.clusterLabel);
  const replicaLabel = label('replicaLabel', options.replicaLabel, d.replicaLabel);
  if (clusterLabel === replicaLabel) {
    throw new ElectionError(ElectionErrorCodes.INVALID_LABEL, `cluster and replica label must differ, both are "${clusterLabel}"`);
  }
  const leaseTimeoutMs = duration('leaseTimeoutMs', options.leaseTimeoutMs, d.leaseTimeoutMs);
  const leaseRefreshMs = duration('leaseRefreshMs', options.leaseRefreshMs, d.leaseRefreshMs);
  if (leaseRefreshMs >= leaseTimeoutMs) {
    throw new ElectionError(
      ElectionErrorCodes.REFRESH_NOT_BELOW_TIMEOUT,
      `leaseRefreshMs (${leaseRefreshMs}) must be below leaseTimeoutMs (${leaseTimeoutMs})`,
    );
  }
  return { clusterLabel, replicaLabel, leaseTimeoutMs, leaseRefreshMs };
}
