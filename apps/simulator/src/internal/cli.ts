import { SimError } from './errors.js';
import {
  FAULT_KINDS,
  parseDuration,
  parseFaultKinds,
  parseSkew,
  resolveScenario,
  type Scenario,
  type ScenarioOptions,
} from './scenario.js';

export interface CliOptions {
  readonly scenario: Scenario;
  readonly reportDir: string | undefined;
  readonly dbUri: string | undefined;
  readonly soak: boolean;
  readonly ingest: 'real' | 'fake';
  readonly gapSlackMs: number;
  readonly wire: 'codec' | 'own';
  readonly help: boolean;
  /** Deterministic mode: ingest services in this process on virtual time. */
  readonly virtual: boolean;
  /** --seeds A-B: run every seed of the range (deterministic mode). */
  readonly seeds: { readonly from: number; readonly to: number } | undefined;
  /** --fault-ids: only these scheduled faults (a shrunk schedule). */
  readonly keepFaults: ReadonlySet<number> | undefined;
  readonly shrink: boolean;
  readonly electionPolicy: string;
}

interface FlagSpec {
  readonly name: string;
  readonly arg: string;
  readonly help: string;
  readonly default?: string;
}

/** The flags of `npm run sim`, in --help order. One table: parsing and help come from it. */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'clusters', arg: 'N', help: 'HA clusters (each a fleet of identical replicas)', default: '1' },
  { name: 'replicas', arg: 'N', help: 'replicas per cluster (max 16)', default: '2' },
  { name: 'ingesters', arg: 'N', help: 'promha ingest instances behind the load balancer', default: '2' },
  { name: 'workers', arg: 'N', help: 'worker processes per ingest instance (its --workers)', default: '1' },
  { name: 'duration', arg: 'DUR', help: 'scraping time (e.g. 60s, 5m)', default: '20s' },
  { name: 'scrape-interval', arg: 'DUR', help: 'scrape interval of every replica', default: '1s' },
  { name: 'skew', arg: 'RANGE', help: 'per-replica clock skew drawn from this range (e.g. 0-3s)', default: '0' },
  {
    name: 'ingest-skew',
    arg: 'DUR',
    help: 'each ingest instance\'s clock is off by up to this much, either way (with --virtual)',
    default: '0',
  },
  { name: 'jitter', arg: 'DUR', help: 'max delay of a scrape after its nominal time', default: 'scrape-interval/10' },
  { name: 'series', arg: 'N', help: 'series per replica (the same set for every replica of a cluster)', default: '8' },
  { name: 'faults', arg: 'LIST', help: 'all, none, or a comma list of fault kinds', default: 'none' },
  { name: 'fault-rate', arg: 'X', help: 'faults per cluster-minute', default: '2' },
  {
    name: 'seed',
    arg: 'N',
    help: 'seed of every random choice (scenario, skews, faults, jitter, link faults)',
    default: '1',
  },
  { name: 'lease-timeout', arg: 'DUR', help: 'passed to the ingest as --ha.lease-timeout', default: '2s' },
  { name: 'lease-refresh', arg: 'DUR', help: 'passed to the ingest as --ha.lease-refresh', default: '500ms' },
  { name: 'ha', arg: 'BOOL', help: 'passed to the ingest as --metrics.high-availability', default: 'true' },
  { name: 'shards', arg: 'N', help: 'remote-write shards per replica', default: '2' },
  { name: 'max-samples-per-send', arg: 'N', help: 'remote-write batch size', default: '500' },
  { name: 'batch-deadline', arg: 'DUR', help: 'remote-write batch send deadline', default: 'min(interval, (lease timeout - interval - jitter) / 2)' },
  {
    name: 'drain',
    arg: 'DUR',
    help: 'time after scraping ends for queues to drain',
    default: 'max(2s, 2 x lease timeout)',
  },
  { name: 'gap-slack', arg: 'DUR', help: 'scheduling tolerance added to the failover bound', default: '250ms' },
  { name: 'report', arg: 'DIR', help: 'write report.json and report.html there' },
  {
    name: 'db.uri',
    arg: 'URI',
    help: 'use this PostgreSQL database (no postgres-restart faults); default: an embedded server',
  },
  {
    name: 'ingest',
    arg: 'KIND',
    help: 'real (promha ingest processes) or fake (in-process reference model)',
    default: 'real',
  },
  {
    name: 'wire',
    arg: 'KIND',
    help: 'request encoder: codec (@promha/codec, real snappy) or own (independent minimal encoder)',
    default: 'codec',
  },
  { name: 'soak', arg: '', help: 'run again and again with seed, seed+1, ... until a violation or Ctrl-C' },
  { name: 'virtual', arg: '', help: 'deterministic mode: ingest services in this process on virtual time; same seed, same bytes' },
  { name: 'seeds', arg: 'A-B', help: 'with --virtual: run every seed from A to B, one line per failure, a summary last' },
  { name: 'fault-ids', arg: 'LIST', help: 'only these faults of the schedule (ids as printed), e.g. a shrunk schedule' },
  { name: 'shrink', arg: 'BOOL', help: 'with --virtual: shrink a failing schedule to the fewest faults that still fail', default: 'true' },
  {
    name: 'election-policy',
    arg: 'NAME',
    help: 'with --virtual: default, or data-time-only (deliberately broken: no wall-clock guard)',
    default: 'default',
  },
  { name: 'help', arg: '', help: 'this text' },
];

export function usage(): string {
  const lines = FLAGS.map((f) => {
    const left = `  --${f.name}${f.arg === '' ? '' : ` ${f.arg}`}`;
    return `${left.padEnd(32)}${f.help}${f.default === undefined ? '' : ` (default ${f.default})`}`;
  });
  return `usage: npm run sim -- [flags]\n\n${lines.join('\n')}\n\nfault kinds: ${FAULT_KINDS.join(', ')}\n`;
}

/** Parses argv (without node and script) into resolved options; throws SimError with a clear message. */
export function parseCli(argv: readonly string[]): CliOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new SimError('SIM_BAD_FLAG', `unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = FLAGS.find((f) => f.name === name);
    if (spec === undefined) throw new SimError('SIM_BAD_FLAG', `unknown flag --${name} (see --help)`);
    if (spec.arg === '') {
      values.set(name, eq >= 0 ? a.slice(eq + 1) : 'true');
      continue;
    }
    const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new SimError('SIM_BAD_FLAG', `--${name} needs a value (${spec.arg})`);
    values.set(name, v);
  }
  const int = (name: string): number | undefined => {
    const v = values.get(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new SimError('SIM_BAD_FLAG', `--${name} must be an integer, got "${v}"`);
    return Number(v);
  };
  const dur = (name: string): number | undefined => {
    const v = values.get(name);
    return v === undefined ? undefined : parseDuration(v);
  };
  const bool = (name: string): boolean | undefined => {
    const v = values.get(name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false')
      throw new SimError('SIM_BAD_FLAG', `--${name} must be true or false, got "${v}"`);
    return v === 'true';
  };
  const skew = values.has('skew') ? parseSkew(values.get('skew')!) : undefined;
  const faultRate = values.get('fault-rate');
  const opts: { -readonly [K in keyof ScenarioOptions]: ScenarioOptions[K] } = {
    leaseTimeoutMs: dur('lease-timeout') ?? 2000,
    leaseRefreshMs: dur('lease-refresh') ?? 500,
    faultKinds: parseFaultKinds(values.get('faults') ?? 'none'),
  };
  const set = <K extends keyof ScenarioOptions>(k: K, v: ScenarioOptions[K] | undefined): void => {
    if (v !== undefined) opts[k] = v;
  };
  set('seed', int('seed'));
  set('clusters', int('clusters'));
  set('replicas', int('replicas'));
  set('ingesters', int('ingesters'));
  set('workers', int('workers'));
  set('durationMs', dur('duration'));
  set('scrapeIntervalMs', dur('scrape-interval'));
  set('skewMinMs', skew?.min);
  set('skewMaxMs', skew?.max);
  set('ingestSkewMs', dur('ingest-skew'));
  set('jitterMs', dur('jitter'));
  set('seriesPerReplica', int('series'));
  set('faultRate', faultRate === undefined ? undefined : Number(faultRate));
  set('highAvailability', bool('ha'));
  set('shards', int('shards'));
  set('maxSamplesPerSend', int('max-samples-per-send'));
  set('batchDeadlineMs', dur('batch-deadline'));
  set('drainMs', dur('drain'));
  const ingest = values.get('ingest') ?? 'real';
  if (ingest !== 'real' && ingest !== 'fake')
    throw new SimError('SIM_BAD_FLAG', `--ingest must be real or fake, got "${ingest}"`);
  const wire = values.get('wire') ?? 'codec';
  if (wire !== 'codec' && wire !== 'own')
    throw new SimError('SIM_BAD_FLAG', `--wire must be codec or own, got "${wire}"`);
  const seedsText = values.get('seeds');
  let seeds: CliOptions['seeds'];
  if (seedsText !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(seedsText);
    if (m === null || Number(m[2]) < Number(m[1])) throw new SimError('SIM_BAD_FLAG', `--seeds must be a range A-B, got "${seedsText}"`);
    seeds = { from: Number(m[1]), to: Number(m[2]) };
  }
  const virtual = bool('virtual') ?? false;
  if (seeds !== undefined && !virtual) throw new SimError('SIM_BAD_FLAG', '--seeds needs --virtual');
  const idsText = values.get('fault-ids');
  let keepFaults: Set<number> | undefined;
  if (idsText !== undefined) {
    if (!/^(\d+(,\d+)*)?$/.test(idsText)) throw new SimError('SIM_BAD_FLAG', `--fault-ids must be a comma list of ids, got "${idsText}"`);
    keepFaults = new Set(idsText === '' ? [] : idsText.split(',').map(Number));
  }
  const electionPolicy = values.get('election-policy') ?? 'default';
  if (electionPolicy !== 'default' && electionPolicy !== 'data-time-only')
    throw new SimError('SIM_BAD_FLAG', `--election-policy must be default or data-time-only, got "${electionPolicy}"`);
  if (electionPolicy !== 'default' && !virtual) throw new SimError('SIM_BAD_FLAG', '--election-policy needs --virtual');
  if (opts.ingestSkewMs !== undefined && opts.ingestSkewMs !== 0 && !virtual) throw new SimError('SIM_BAD_FLAG', '--ingest-skew needs --virtual');
  return {
    virtual,
    seeds,
    keepFaults,
    shrink: bool('shrink') ?? true,
    electionPolicy,
    wire,
    scenario: resolveScenario(opts),
    reportDir: values.get('report'),
    dbUri: values.get('db.uri'),
    soak: bool('soak') ?? false,
    ingest,
    gapSlackMs: dur('gap-slack') ?? 250,
    help: values.has('help'),
  };
}

/** The command line that replays a scenario (in the deterministic mode, with a fault subset or policy if given). */
export function reproduceCommand(
  s: Scenario,
  extra: { readonly virtual?: boolean; readonly keepFaults?: ReadonlySet<number> | undefined; readonly electionPolicy?: string } = {},
): string {
  return [
    'npm run sim --',
    `--seed ${s.seed}`,
    `--clusters ${s.clusters}`,
    `--replicas ${s.replicas}`,
    `--ingesters ${s.ingesters}`,
    `--workers ${s.workers}`,
    `--duration ${s.durationMs}ms`,
    `--scrape-interval ${s.scrapeIntervalMs}ms`,
    `--skew ${s.skewMinMs}ms-${s.skewMaxMs}ms`,
    ...(s.ingestSkewMs === 0 ? [] : [`--ingest-skew ${s.ingestSkewMs}ms`]),
    `--jitter ${s.jitterMs}ms`,
    `--series ${s.seriesPerReplica}`,
    `--faults ${s.faultKinds.length === 0 ? 'none' : s.faultKinds.join(',')}`,
    `--fault-rate ${s.faultRate}`,
    `--lease-timeout ${s.leaseTimeoutMs}ms`,
    `--lease-refresh ${s.leaseRefreshMs}ms`,
    `--ha ${s.highAvailability}`,
    `--shards ${s.shards}`,
    `--max-samples-per-send ${s.maxSamplesPerSend}`,
    `--batch-deadline ${s.batchDeadlineMs}ms`,
    `--drain ${s.drainMs}ms`,
    ...(extra.virtual === true ? ['--virtual'] : []),
    ...(extra.keepFaults === undefined ? [] : [`--fault-ids=${[...extra.keepFaults].sort((a, b) => a - b).join(',')}`]),
    ...(extra.electionPolicy === undefined || extra.electionPolicy === 'default' ? [] : [`--election-policy ${extra.electionPolicy}`]),
  ].join(' ');
}
