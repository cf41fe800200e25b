import { parseDuration as parseFlagDuration } from '@promha/ingest';
import { SimError } from './errors.js';

/** Every kind of fault the simulator can inject. */
export const FAULT_KINDS = [
  'replica-crash',
  'replica-cut',
  'slow-link',
  'lossy-link',
  'duplicate-delivery',
  'ingest-kill',
  'postgres-restart',
  'clock-jump',
  'backend-kill',
  'load-burst',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * A fully resolved simulation scenario. All durations are milliseconds. *Sim time* is milliseconds since the
 * start of the run on the simulator's own clock; a replica's *data time* is the epoch base plus sim time plus
 * its skew plus the clock jumps it has taken.
 */
export interface Scenario {
  readonly seed: number;
  readonly clusters: number;
  readonly replicas: number;
  readonly ingesters: number;
  /** Worker processes of each real ingest instance (its `--workers`); the fake tier ignores it. */
  readonly workers: number;
  readonly durationMs: number;
  readonly scrapeIntervalMs: number;
  /** Per-replica clock skew is drawn from [skewMinMs, skewMaxMs]. */
  readonly skewMinMs: number;
  readonly skewMaxMs: number;
  /**
   * Clock skew of each ingest instance (deterministic mode only): drawn from [0, ingestSkewMs] with a random sign.
   * The HA guard reads the database's clock, so this must change no leadership.
   */
  readonly ingestSkewMs: number;
  /** Each scrape fires up to this much after its nominal time. */
  readonly jitterMs: number;
  readonly seriesPerReplica: number;
  readonly faultKinds: readonly FaultKind[];
  /** Faults per cluster-minute of run time (at least one fault when any kind is enabled). */
  readonly faultRate: number;
  readonly leaseTimeoutMs: number;
  readonly leaseRefreshMs: number;
  readonly highAvailability: boolean;
  /** Remote-write queue: shards per replica, samples per send, batch deadline, backoff bounds, capacity. */
  readonly shards: number;
  readonly maxSamplesPerSend: number;
  readonly batchDeadlineMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly queueCapacity: number;
  /** Time after the end of scraping during which queues drain before the data is read back. */
  readonly drainMs: number;
}

/** Public, all-optional form of {@link Scenario}. */
export type ScenarioOptions = { readonly [K in keyof Scenario]?: Scenario[K] };

/** Upper bounds that keep the value encoding exact (see values.ts). */
export const MAX_CLUSTERS = 64;
export const MAX_REPLICAS = 16;

export function resolveScenario(options: ScenarioOptions): Scenario {
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 1000;
  const leaseTimeoutMs = options.leaseTimeoutMs ?? 2000;
  const jitterMs = options.jitterMs ?? Math.floor(scrapeIntervalMs / 10);
  const s: Scenario = {
    seed: options.seed ?? 1,
    clusters: options.clusters ?? 1,
    replicas: options.replicas ?? 2,
    ingesters: options.ingesters ?? 2,
    workers: options.workers ?? 1,
    durationMs: options.durationMs ?? 20_000,
    scrapeIntervalMs,
    skewMinMs: options.skewMinMs ?? 0,
    skewMaxMs: options.skewMaxMs ?? 0,
    ingestSkewMs: options.ingestSkewMs ?? 0,
    jitterMs,
    seriesPerReplica: options.seriesPerReplica ?? 8,
    faultKinds: options.faultKinds ?? [],
    faultRate: options.faultRate ?? 2,
    leaseTimeoutMs,
    leaseRefreshMs: options.leaseRefreshMs ?? Math.max(1, Math.floor(leaseTimeoutMs / 4)),
    highAvailability: options.highAvailability ?? true,
    shards: options.shards ?? 2,
    maxSamplesPerSend: options.maxSamplesPerSend ?? 500,
    // A healthy leader's requests are at most scrape interval + jitter + batch deadline apart (a shard's deadline
    // starts with the first sample queued after a send). The default deadline leaves half of what the lease timeout
    // leaves over as margin for the ingest's own latency, and is never longer than the scrape interval.
    batchDeadlineMs:
      options.batchDeadlineMs ??
      Math.max(1, Math.min(scrapeIntervalMs, Math.floor((leaseTimeoutMs - scrapeIntervalMs - jitterMs) / 2))),
    minBackoffMs: options.minBackoffMs ?? 30,
    maxBackoffMs: options.maxBackoffMs ?? 1000,
    queueCapacity: options.queueCapacity ?? 100_000,
    drainMs: options.drainMs ?? Math.max(2000, leaseTimeoutMs * 2),
  };
  const intIn = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new SimError('SIM_BAD_SCENARIO', `${name} must be an integer in [${min}, ${max}], got ${v}`);
    }
  };
  intIn('seed', s.seed, 0, 0xffff_ffff);
  intIn('clusters', s.clusters, 1, MAX_CLUSTERS);
  intIn('replicas', s.replicas, 1, MAX_REPLICAS);
  intIn('ingesters', s.ingesters, 1, 32);
  intIn('workers', s.workers, 1, 16);
  intIn('duration', s.durationMs, 1, 7 * 24 * 3_600_000);
  intIn('scrape interval', s.scrapeIntervalMs, 10, 3_600_000);
  intIn('skew min', s.skewMinMs, -3_600_000, 3_600_000);
  intIn('skew max', s.skewMaxMs, s.skewMinMs, 3_600_000);
  intIn('ingest skew', s.ingestSkewMs, 0, 3_600_000);
  intIn('jitter', s.jitterMs, 0, s.scrapeIntervalMs);
  intIn('series per replica', s.seriesPerReplica, 1, 100_000);
  intIn('lease timeout', s.leaseTimeoutMs, 2, 3_600_000);
  intIn('lease refresh', s.leaseRefreshMs, 1, s.leaseTimeoutMs - 1);
  intIn('shards', s.shards, 1, 64);
  intIn('max samples per send', s.maxSamplesPerSend, 1, 100_000);
  intIn('batch deadline', s.batchDeadlineMs, 1, 3_600_000);
  intIn('min backoff', s.minBackoffMs, 1, 3_600_000);
  intIn('max backoff', s.maxBackoffMs, s.minBackoffMs, 3_600_000);
  intIn('queue capacity', s.queueCapacity, 1, 100_000_000);
  intIn('drain', s.drainMs, 0, 3_600_000);
  if (s.highAvailability && s.scrapeIntervalMs + s.jitterMs + s.batchDeadlineMs >= s.leaseTimeoutMs) {
    // Rule 5 lets a replica take over when the leader sent nothing for a lease timeout: with these settings a
    // healthy leader does exactly that between two of its requests, and every check of the run would be noise.
    throw new SimError(
      'SIM_BAD_SCENARIO',
      `lease timeout ${s.leaseTimeoutMs}ms must exceed scrape interval + jitter + batch deadline (${s.scrapeIntervalMs} + ${s.jitterMs} + ${s.batchDeadlineMs} ms): a healthy leader's requests may be that far apart`,
    );
  }
  if (!(s.faultRate >= 0)) throw new SimError('SIM_BAD_SCENARIO', `fault rate must be >= 0, got ${s.faultRate}`);
  return s;
}

/**
 * Parses a duration as the ingest's flags take it (`250ms`, `2s`, `1m`, `1h30m`, `90d`: `parseDuration` of
 * @promha/ingest), a bare number of milliseconds, or either with a leading `-` (a skew may be negative).
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  const sign = t.startsWith('-') ? -1 : 1;
  const magnitude = sign < 0 ? t.slice(1) : t;
  if (/^\d+$/.test(magnitude)) return sign * Number(magnitude);
  try {
    return sign * parseFlagDuration(magnitude);
  } catch (e: unknown) {
    throw new SimError('SIM_BAD_FLAG', `not a duration: "${text}" (use e.g. 250ms, 2s, 1m)`, { cause: e });
  }
}

/** Parses a skew range `0-3s` (both ends take the unit of the upper end unless given) or a single duration. */
export function parseSkew(text: string): {
  readonly min: number;
  readonly max: number;
} {
  const m = /^(-?\d+)(ms|s|m|h)?-(-?\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) {
    const v = parseDuration(text);
    return { min: Math.min(0, v), max: Math.max(0, v) };
  }
  const hiUnit = m[4] ?? 'ms';
  const min = parseDuration(`${m[1]}${m[2] ?? hiUnit}`);
  const max = parseDuration(`${m[3]}${hiUnit}`);
  if (max < min) throw new SimError('SIM_BAD_FLAG', `skew range "${text}" is empty`);
  return { min, max };
}

/** Parses `all`, `none` or a comma-separated list of fault kinds. */
export function parseFaultKinds(text: string): readonly FaultKind[] {
  if (text === 'all') return FAULT_KINDS;
  if (text === 'none' || text === '') return [];
  const kinds = text.split(',').map((k) => k.trim());
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new SimError('SIM_BAD_FLAG', `unknown fault kind "${k}" (known: ${FAULT_KINDS.join(', ')}, all, none)`);
    }
  }
  return kinds as FaultKind[];
}
