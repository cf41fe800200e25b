/**
 * The service's configuration: one table of flags (name, environment variable, default, parser, help) is the
 * single source of truth for parsing, validation and `--help`. `resolveConfig` applies flag > environment >
 * default once at start and returns a fully-required {@link Config}, or throws a {@link ConfigError} naming the
 * flag and the problem.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { IngestError } from './errors.js';
import { parseMemoryTarget } from './internal/cache-budget.js';

/** Thrown for an unknown flag or a value that does not parse or validate; `message` is meant for the operator. */
export class ConfigError extends IngestError {
  constructor(message: string) {
    super('PROMHA_INGEST_CONFIG', message);
  }
}

/** A listen address: `:9201` (every interface) or `host:port` / `[v6]:port`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'json' | 'logfmt';

interface FlagSpec<T> {
  readonly flag: string;
  readonly help: string;
  /** The default as written on the command line (shown by `--help`); undefined means "not set". */
  readonly default: string | undefined;
  readonly parse: (raw: string) => T;
}

function spec<T>(s: FlagSpec<T>): FlagSpec<T> {
  return s;
}

const UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Parses a Prometheus-style duration (`30s`, `5m`, `1h30m`, `90d`, `250ms`) into milliseconds. */
export function parseDuration(raw: string): number {
  const s = raw.trim();
  if (s === '0') return 0;
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * UNITS_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (s.length === 0 || matched !== s.length) {
    throw new Error(`"${raw}" is not a duration (examples: 250ms, 30s, 5m, 1h30m, 90d)`);
  }
  if (!Number.isSafeInteger(total)) throw new Error(`"${raw}" is too long a duration`);
  return total;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Parses a byte size: a plain integer, or a number with KB/MB/GB (decimal) or KiB/MiB/GiB (binary). */
export function parseSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw.trim());
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) {
    throw new Error(`"${raw}" is not a size (examples: 1048576, 16MiB, 64MB)`);
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new Error(`"${raw}" is too large`);
  return n;
}

/** Parses `:9201`, `0.0.0.0:9201`, `localhost:9201` or `[::1]:9201`. */
export function parseListenAddress(raw: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new Error(`"${raw}" is not a listen address (examples: :9201, 127.0.0.1:9201, [::1]:9201)`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function parseBool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new Error(`"${raw}" is not a boolean (true or false)`);
}

function positiveInt(raw: string): number {
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new Error(`"${raw}" is not a positive integer`);
  }
  return n;
}

function nonNegativeInt(raw: string): number {
  return raw.trim() === '0' ? 0 : positiveInt(raw);
}

function positive(parse: (raw: string) => number): (raw: string) => number {
  return (raw) => {
    const n = parse(raw);
    if (n <= 0) throw new Error(`"${raw}" must be greater than zero`);
    return n;
  };
}

/** What `--workers=auto` parses to until {@link autoWorkers} knows where the database runs. */
const AUTO_WORKERS = 0;

/** `auto` or a positive integer. */
function workerCount(raw: string): number {
  return raw.trim() === 'auto' ? AUTO_WORKERS : positiveInt(raw);
}

/**
 * `--workers=auto`: every core this process may use, but one left to the embedded PostgreSQL when it runs beside
 * the workers (`--db.uri` unset), at least one. On two cores with the embedded database, one process stored as many
 * samples per second as two workers and spent 0.61-0.83x the CPU per sample (docs/decisions/0004-ingest-throughput.md,
 * fifth pass): two workers, the database and the senders fought over two cores.
 */
export function autoWorkers(cores: number, embeddedDatabase: boolean): number {
  return Math.max(1, cores - (embeddedDatabase ? 1 : 0));
}

function nonEmpty(raw: string): string {
  if (raw.length === 0) throw new Error('must not be empty');
  return raw;
}

function oneOf<T extends string>(values: readonly T[]): (raw: string) => T {
  return (raw) => {
    const found = values.find((v) => v === raw.trim());
    if (found === undefined) throw new Error(`"${raw}" is not one of ${values.join(', ')}`);
    return found;
  };
}

/** Every flag. Keys are the {@link Config} property names; the order is the order of `--help`. */
const FLAGS = {
  listenAddress: spec({
    flag: 'web.listen-address',
    help: 'Address to listen on for HTTP(S): ":port" for every interface, or "host:port" / "[v6]:port".',
    default: ':9201',
    parse: parseListenAddress,
  }),
  workers: spec({
    flag: 'workers',
    help:
      'Worker processes sharing the listen port (auto: the available parallelism, less one core for the embedded ' +
      'PostgreSQL when --db.uri is unset). Each is an ordinary instance on the one database; the primary process ' +
      'supervises them and owns the embedded PostgreSQL.',
    default: 'auto',
    parse: workerCount,
  }),
  dbUri: spec<string | undefined>({
    flag: 'db.uri',
    help: 'PostgreSQL connection URI. When unset, an embedded persistent PostgreSQL is started under --db.embedded-dir.',
    default: undefined,
    parse: nonEmpty,
  }),
  dbEmbeddedDir: spec({
    flag: 'db.embedded-dir',
    help: 'Data directory of the embedded PostgreSQL used when --db.uri is unset.',
    default: '.promha/pg',
    parse: nonEmpty,
  }),
  dbMaxConnections: spec({
    flag: 'db.max-connections',
    help: 'Maximum number of connections in the database pool.',
    default: '10',
    parse: positiveInt,
  }),
  dbReadMaxConnections: spec({
    flag: 'db.read-max-connections',
    help: 'Size of the separate pool for reads (remote read, the HTTP API), so reads never take the writers\' or the lease loop\'s connections.',
    default: '4',
    parse: positiveInt,
  }),
  dbConnectTimeoutMs: spec({
    flag: 'db.connect-timeout',
    help: 'Time allowed to open a database connection (TCP, TLS, authentication) before the call fails (503).',
    default: '10s',
    parse: positive(parseDuration),
  }),
  dbWriteTimeoutMs: spec({
    flag: 'db.write-timeout',
    help: 'Statement timeout of write sessions (flushes, interning, maintenance); a write waits this long plus 2s for an answer at all, then 503.',
    default: '20s',
    parse: positive(parseDuration),
  }),
  dbLeaseStepTimeoutMs: spec({
    flag: 'db.lease-step-timeout',
    help: 'Statement timeout of lease steps and of the readiness ping; /ready turns 503 within about --ha.lease-refresh plus this plus 2s of a database that stops answering.',
    default: '5s',
    parse: positive(parseDuration),
  }),
  dbReadTimeoutMs: spec({
    flag: 'db.read-timeout',
    help: 'Statement timeout of reads.',
    default: '1m',
    parse: positive(parseDuration),
  }),
  dbTcpKeepaliveMs: spec({
    flag: 'db.tcp-keepalive',
    help: 'Idle time before TCP keepalive probes start on database connections (finds a dropped network path); 0 turns them off.',
    default: '30s',
    parse: parseDuration,
  }),
  dbStatementsCache: spec({
    flag: 'db.statements-cache',
    help: 'Name the statements every write runs, so PostgreSQL parses and plans them once per connection (as Promscale did). false behind a pooler that moves sessions between connections (PgBouncer in transaction mode before 1.21).',
    default: 'true',
    parse: parseBool,
  }),
  highAvailability: spec({
    flag: 'metrics.high-availability',
    help: 'Deduplicate Prometheus HA pairs (one leader per cluster). false stores every replica as sent.',
    default: 'true',
    parse: parseBool,
  }),
  clusterLabel: spec({
    flag: 'ha.cluster-label',
    help: 'External label naming the HA cluster (Prometheus Operator: prometheus).',
    default: 'cluster',
    parse: nonEmpty,
  }),
  replicaLabel: spec({
    flag: 'ha.replica-label',
    help: 'External label naming the replica within its cluster (Prometheus Operator: prometheus_replica).',
    default: '__replica__',
    parse: nonEmpty,
  }),
  leaseTimeoutMs: spec({
    flag: 'ha.lease-timeout',
    help: 'Data time (and wall time) without data from the leader after which another replica may take over.',
    default: '30s',
    parse: positive(parseDuration),
  }),
  leaseRefreshMs: spec({
    flag: 'ha.lease-refresh',
    help: 'How often leases are written and re-read; must be less than --ha.lease-timeout.',
    default: '5s',
    parse: positive(parseDuration),
  }),
  standbyBufferBytes: spec({
    flag: 'ha.standby-buffer-bytes',
    help: 'Memory for the standby buffer: recent requests of non-leader replicas (compressed, about 26 bytes per sample of 10 labels), written after a takeover from the splice point on so a failover loses no data; 0 keeps none.',
    default: '256MiB',
    parse: parseSize,
  }),
  historyRetentionMs: spec({
    flag: 'ha.history-retention',
    help: 'How long leader-change history is kept.',
    default: '30d',
    parse: positive(parseDuration),
  }),
  retentionMs: spec({
    flag: 'retention',
    help: 'How long samples are kept (whole days).',
    default: '90d',
    parse: positive(parseDuration),
  }),
  maxBodyBytes: spec({
    flag: 'web.max-body-bytes',
    help: 'Largest accepted request body on the wire (compressed); larger bodies are answered 413.',
    default: '16MiB',
    parse: positive(parseSize),
  }),
  maxDecodedBytes: spec({
    flag: 'web.max-decoded-bytes',
    help: 'Largest decompressed request; checked against the snappy header before allocating (413).',
    default: '64MiB',
    parse: positive(parseSize),
  }),
  nativeSnappy: spec({
    flag: 'web.native-snappy',
    help: 'Decompress request bodies with the native snappy package where it is installed (3-4x faster); false: the built-in decoder.',
    default: 'true',
    parse: parseBool,
  }),
  maxInFlightSamples: spec({
    flag: 'ingest.max-in-flight-samples',
    help: 'Samples plus series decoded and not yet answered above which new writes are answered 503 without decoding.',
    default: '2000000',
    parse: positiveInt,
  }),
  maxLabelNameBytes: spec({
    flag: 'limits.max-label-name-bytes',
    help: 'Longest label name in UTF-8 bytes; a series with a longer one makes the request 400.',
    default: '1024',
    parse: positiveInt,
  }),
  maxLabelValueBytes: spec({
    flag: 'limits.max-label-value-bytes',
    help: 'Longest label value in UTF-8 bytes (400 above). Every value up to this is storable.',
    default: '16KiB',
    parse: positive(parseSize),
  }),
  maxLabelsPerSeries: spec({
    flag: 'limits.max-labels-per-series',
    help: 'Most labels one series may carry, the metric name included (400 above).',
    default: '128',
    parse: positiveInt,
  }),
  maxSeriesPerRequest: spec({
    flag: 'limits.max-series-per-request',
    help: 'Most series one remote-write request may carry (400 above).',
    default: '100000',
    parse: positiveInt,
  }),
  maxExemplarLabelRunes: spec({
    flag: 'limits.max-exemplar-label-runes',
    help: 'Longest exemplar label set (names and values together) in code points, as Prometheus and OpenMetrics bound it (400 above).',
    default: '128',
    parse: positiveInt,
  }),
  futureGraceMs: spec({
    flag: 'limits.future-grace',
    help: 'Samples later than the wall clock plus this are refused (400 naming the series; the rest is stored) and never extend a lease.',
    default: '10m',
    parse: parseDuration,
  }),
  readSeriesLimit: spec({
    flag: 'read.series-limit',
    help: 'Most series one remote read may return (over all its queries); more is answered 400. 0: no limit.',
    default: '100000',
    parse: nonNegativeInt,
  }),
  readSampleLimit: spec({
    flag: 'read.sample-limit',
    help: 'Most samples one remote read may return, as Prometheus\' --storage.remote.read-sample-limit: more is answered 400. Bounds the memory of a response. 0: no limit.',
    default: '5000000',
    parse: nonNegativeInt,
  }),
  maxSelectorBytes: spec({
    flag: 'read.max-selector-bytes',
    help: 'Longest series selector (one match[] of the HTTP API) in UTF-8 bytes; longer ones are answered 400 bad_data before anything is parsed.',
    default: '256KiB',
    parse: positive(parseSize),
  }),
  maxRegexBytes: spec({
    flag: 'read.max-regex-bytes',
    help: 'Longest regex of a matcher (HTTP API and remote read) in UTF-8 bytes, unless it is plain alternatives (a|b|c, a set lookup); longer ones are answered 400.',
    default: '16KiB',
    parse: positive(parseSize),
  }),
  cacheMemoryTarget: spec({
    flag: 'cache.memory-target',
    help:
      'Memory the series caches of all workers together may use: a size (4GiB) or a share of the memory this process may use (the machine\'s, or its control group\'s limit). Shared evenly between the workers; sets the cache bounds below when they are unset, and each worker\'s JavaScript heap.',
    default: '50%',
    parse: (raw) => parseMemoryTarget(raw, parseSize),
  }),
  seriesCacheMax: spec<number | undefined>({
    flag: 'cache.series-max',
    help: 'Series kept in each instance\'s series cache (label set without the replica label -> series id); size it to the active series of every cluster this instance stores. Unset: as many as the instance\'s share of --cache.memory-target holds (about 2.6 KB per series).',
    default: undefined,
    parse: positiveInt,
  }),
  labelSetCacheMax: spec<number | undefined>({
    flag: 'cache.label-sets-max',
    help: 'Label sets kept by the remote-write 1.0 decoder (request bytes -> decoded labels; 0: none). Unset: twice the series cache bound, as an HA pair sends two label sets per stored series.',
    default: undefined,
    parse: nonNegativeInt,
  }),
  labelPairCacheMax: spec<number>({
    flag: 'cache.label-pairs-max',
    help: 'Label pairs whose ids each instance\'s storage writer keeps for interning new series (name and value -> id; 0: none). A miss costs a lookup while a new series is interned, never a lookup of a known series; when full the cache starts over.',
    default: '262144',
    parse: nonNegativeInt,
  }),
  bearerTokenFile: spec<string | undefined>({
    flag: 'web.auth.bearer-token-file',
    help: 'File whose first non-empty line is the bearer token clients must send (Authorization: Bearer ...).',
    default: undefined,
    parse: nonEmpty,
  }),
  basicUsersFile: spec<string | undefined>({
    flag: 'web.auth.basic-users-file',
    help: 'File of "user:scrypt$N$r$p$salt$hash" lines for HTTP basic auth (make one with hash-password).',
    default: undefined,
    parse: nonEmpty,
  }),
  tlsCertFile: spec<string | undefined>({
    flag: 'web.tls-cert-file',
    help: 'TLS certificate (PEM); serve HTTPS when set together with --web.tls-key-file.',
    default: undefined,
    parse: nonEmpty,
  }),
  tlsKeyFile: spec<string | undefined>({
    flag: 'web.tls-key-file',
    help: 'TLS private key (PEM).',
    default: undefined,
    parse: nonEmpty,
  }),
  logLevel: spec<LogLevel>({
    flag: 'log.level',
    help: 'Log level: trace, debug, info, warn, error, fatal, silent.',
    default: 'info',
    parse: oneOf<LogLevel>(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  }),
  logFormat: spec<LogFormat>({
    flag: 'log.format',
    help: 'Log format: json or logfmt.',
    default: 'json',
    parse: oneOf<LogFormat>(['json', 'logfmt']),
  }),
  shutdownTimeoutMs: spec({
    flag: 'shutdown-timeout',
    help: 'On SIGTERM/SIGINT, time allowed to finish in-flight requests and close the pool before exiting.',
    default: '20s',
    parse: positive(parseDuration),
  }),
} as const;

type Flags = typeof FLAGS;

/** The resolved configuration: every value present and validated. */
export type Config = {
  readonly [K in keyof Flags]: ReturnType<Flags[K]['parse']>;
};

/** `PROMHA_` + the flag name upper-cased with `.` and `-` as `_` (e.g. `PROMHA_WEB_LISTEN_ADDRESS`). */
export function envName(flag: string): string {
  return `PROMHA_${flag.toUpperCase().replace(/[.-]/g, '_')}`;
}

/**
 * Promscale's flags were Go flags, and its operators' command lines say `-metrics.high-availability` (one dash) and
 * give booleans bare. This rewrites a known flag's single dash as two, and a bare boolean flag (not followed by
 * `true` or `false`) as `--flag=true`, so that strict `parseArgs` reads them; anything else passes unchanged.
 */
export function promscaleSpellings(argv: readonly string[]): string[] {
  const flags = new Map<string, FlagSpec<unknown>>((Object.keys(FLAGS) as (keyof Flags)[]).map((k) => [FLAGS[k].flag, FLAGS[k]] as const));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    const m = /^--?([a-z0-9.-]+)(=.*)?$/s.exec(arg);
    const spec = m === null ? undefined : flags.get(m[1]!);
    if (m === null || spec === undefined) {
      out.push(arg);
      continue;
    }
    arg = `--${m[1]!}${m[2] ?? ''}`;
    const next = argv[i + 1];
    if (spec.parse === parseBool && m[2] === undefined && (next === undefined || !/^(true|false)$/i.test(next))) arg += '=true';
    out.push(arg);
  }
  return out;
}

/** What the command line asked for besides the configuration. */
export type CliResult = { readonly kind: 'run'; readonly config: Config } | { readonly kind: 'help'; readonly text: string };

/**
 * Resolves flags (`--name=value` or `--name value`, read by `node:util` `parseArgs` in strict mode from the flag
 * table), then `PROMHA_*` variables, then defaults. Throws {@link ConfigError} on an unknown flag, a missing or
 * malformed value, a stray argument, or inconsistent values. Two spellings Promscale's Go flags accepted are
 * rewritten first (see {@link promscaleSpellings}).
 */
export function resolveConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliResult {
  if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help', text: helpText() };
  const keys = Object.keys(FLAGS) as (keyof Flags)[];
  let values: Readonly<Record<string, string | boolean | undefined>>;
  try {
    ({ values } = parseArgs({
      args: promscaleSpellings(argv),
      options: Object.fromEntries(keys.map((k) => [FLAGS[k].flag, { type: 'string' } as const])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (e: unknown) {
    throw new ConfigError(`${e instanceof Error ? e.message.split('\n')[0] : String(e)} (see --help)`);
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const s: FlagSpec<unknown> = FLAGS[key];
    const envVar = envName(s.flag);
    const fromFlag = values[s.flag];
    const fromEnv = env[envVar];
    const [raw, source] =
      typeof fromFlag === 'string'
        ? [fromFlag, `--${s.flag}`]
        : fromEnv !== undefined && fromEnv !== ''
          ? [fromEnv, envVar]
          : [s.default, 'default'];
    if (raw === undefined) {
      out[key] = undefined;
      continue;
    }
    try {
      out[key] = s.parse(raw);
    } catch (e: unknown) {
      throw new ConfigError(`invalid ${source}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (out['workers'] === AUTO_WORKERS) out['workers'] = autoWorkers(availableParallelism(), out['dbUri'] === undefined);
  const config = out as Config;
  validate(config);
  return { kind: 'run', config };
}

function validate(c: Config): void {
  if (c.leaseRefreshMs >= c.leaseTimeoutMs) {
    throw new ConfigError(
      `--ha.lease-refresh (${c.leaseRefreshMs}ms) must be less than --ha.lease-timeout (${c.leaseTimeoutMs}ms)`,
    );
  }
  if (c.clusterLabel === c.replicaLabel) {
    throw new ConfigError('--ha.cluster-label and --ha.replica-label must differ');
  }
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined)) {
    throw new ConfigError('--web.tls-cert-file and --web.tls-key-file must be given together');
  }
  if (c.retentionMs < 86_400_000) throw new ConfigError('--retention must be at least 1d');
  if (c.maxDecodedBytes < c.maxBodyBytes) {
    throw new ConfigError('--web.max-decoded-bytes must be at least --web.max-body-bytes');
  }
}

/** `--help`: every flag with its environment variable and default. */
export function helpText(): string {
  const lines = ['Usage: promha-ingest [flags]', '', 'Flags (each also read from its PROMHA_* environment variable; flag > env > default):', ''];
  for (const key of Object.keys(FLAGS) as (keyof Flags)[]) {
    const s: FlagSpec<unknown> = FLAGS[key];
    lines.push(`  --${s.flag}  (${envName(s.flag)}, default: ${s.default ?? 'unset'})`);
    lines.push(`      ${s.help}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The flag table for documentation (README generation and tests). */
export function flagTable(): readonly { readonly flag: string; readonly env: string; readonly default: string | undefined; readonly help: string }[] {
  return (Object.keys(FLAGS) as (keyof Flags)[]).map((k) => {
    const s: FlagSpec<unknown> = FLAGS[k];
    return { flag: s.flag, env: envName(s.flag), default: s.default, help: s.help };
  });
}
