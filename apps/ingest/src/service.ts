/**
 * Wiring: configuration + libraries → a Fastify instance with the ingest plugin, background loops, and an
 * orderly close. `main.ts` calls this and alone listens; integration tests call it with a test database.
 *
 * Start-up never blocks on the database: the HTTP server answers `/healthz` at once and `/ready` 503 until
 * migrations ran and leases are loaded (retried until the database answers); writes before that are 503.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Clock, ElectionDeps, ElectionMetrics, Lease, LeaseStore, TakeoverNotice } from '@promha/election';
import { SCHEMA_VERSION, type EmbeddedPostgresOptions, type StorageOptions, type StorageStats } from '@promha/storage';
import { ingestApp } from './app.js';
import { createAuthenticator, parseTokenFile, parseUsersFile } from './auth.js';
import type { Config } from './config.js';
import { IngestError } from './errors.js';
import { heapLimit, heapShortfall, memoryAvailable, planCaches } from './internal/cache-budget.js';
import { deferredStorage } from './internal/deferred-storage.js';
import { electionMetrics } from './internal/election-metrics.js';
import { Pipeline } from './internal/pipeline.js';
import { StandbyBuffer } from './internal/standby-buffer.js';
import type { CodecPort, Decision, DecoderCachesPort, ElectionPort, ReadCodecPort, ReaderPort, SplitFn, WriterPort } from './internal/ports.js';
import { createHaApi, createQueryApi, createRemoteReader } from './internal/readers.js';
import { createMetrics, type IngestMetrics } from './metrics.js';

/** The storage facade as the service uses it (the contract's `Storage`). */
export interface StorageService extends WriterPort, ReaderPort {
  migrate(): Promise<void>;
  readonly leases: LeaseStore;
  maintain(wallNow: number): Promise<void>;
  ping(): Promise<void>;
  stats(): StorageStats;
  close(): Promise<void>;
}

/** The election as the service uses it (the contract's `Election`). */
export interface ElectionService extends ElectionPort {
  start(): Promise<void>;
  sync(): Promise<void>;
  leases(): readonly Lease[];
  isReady(): boolean;
  /** The lease store's clock minus this instance's (ms); absent or 0 when the store has no clock of its own. */
  clockOffsetMs?(): number;
}

/** The libraries, injected so the service can be assembled from the real ones (libraries.ts) or fakes. */
export interface Libraries {
  readonly codec: CodecPort & ReadCodecPort;
  readonly split: SplitFn;
  /** The codec's process-wide label-set cache: its bound, and its counters for the metrics. */
  readonly decoderCaches: DecoderCachesPort;
  openStorage(options: StorageOptions): Promise<StorageService>;
  createElection(deps: ElectionDeps & { readonly metrics: ElectionMetrics }): ElectionService;
  startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<{ readonly uri: string; stop(): Promise<void> }>;
}

export interface RunningService {
  readonly app: FastifyInstance;
  readonly metrics: IngestMetrics;
  /** The database in use, password removed, for logs. */
  readonly database: string;
  /** True once migrated and leases loaded; false while the database does not answer. */
  ready(): boolean;
  /** Resolves when start-up (migrations, lease load) finished. */
  started(): Promise<void>;
  /** Stops accepting, finishes in-flight requests, stops loops, closes the pool and the embedded server. */
  close(): Promise<void>;
}

const MAINTAIN_EVERY_MS = 10 * 60_000;
/** Attempts to fill one takeover from the standby buffer (one per lease refresh) while the database fails. */
const MAX_FILL_ATTEMPTS = 5;
/** Distinguishes services in one process (tests, the deterministic simulator) in the history's filled counts. */
let instanceSeq = 0;
const STARTUP_RETRY_MS = 1000;

/** Removes the password from a connection URI for logging. */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable uri>';
  }
}

export interface ServiceOptions {
  readonly logger?: FastifyBaseLogger | boolean | object;
  readonly clock?: Clock;
  /** Periodic loops (sync, ping, maintain); tests may turn them off and drive `ready` themselves. */
  readonly loops?: boolean;
  /** Pause between start-up attempts while the database does not answer; default 1s. */
  readonly startupRetryMs?: number;
  /**
   * Timers of the background loops (start-up retries, lease sync, maintenance); default Node's, unref'ed. The
   * simulator's deterministic mode passes its virtual scheduler. `after` returns a cancel function.
   */
  readonly timers?: { readonly after: (ms: number, fn: () => void) => () => void };
  /** A worker process: `/metrics` answers the sum over every worker (see internal/workers.ts). */
  readonly exposition?: () => Promise<string>;
  /** A worker process: false while another worker is not ready, so `/ready` speaks for all of them. */
  readonly othersReady?: () => boolean;
}

export async function startService(config: Config, libs: Libraries, options: ServiceOptions = {}): Promise<RunningService> {
  const clock: Clock = options.clock ?? { now: () => Date.now() };
  // The gauge reads /ready's answer at every scrape (`answersReady` is defined once the options are known).
  const metrics = createMetrics({
    ready: () => answersReady(),
    clockOffsetMs: () => election.clockOffsetMs?.() ?? 0,
    standby: () => ({ bytes: standby.bytes(), samples: standby.samples() }),
  });

  const [tls, bearerToken, basicUsers] = await Promise.all([
    config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined
      ? Promise.all([readFile(config.tlsCertFile), readFile(config.tlsKeyFile)]).then(([cert, key]) => ({ cert, key }))
      : undefined,
    config.bearerTokenFile === undefined ? undefined : readFile(config.bearerTokenFile, 'utf8').then(parseTokenFile),
    config.basicUsersFile === undefined ? undefined : readFile(config.basicUsersFile, 'utf8').then(parseUsersFile),
  ]);

  // Cache bounds from the memory target (this instance's share), or the flags that override it.
  const heap = heapLimit();
  const caches = planCaches(config, memoryAvailable(), heap);
  libs.decoderCaches.configure(caches.labelSetsMax);

  const embedded = config.dbUri === undefined ? await libs.startEmbeddedPostgres({ dataDir: resolve(config.dbEmbeddedDir) }) : undefined;
  const uri = config.dbUri ?? embedded!.uri;
  const storage = deferredStorage(() =>
    libs.openStorage({
      uri,
      maxConnections: config.dbMaxConnections,
      seriesCacheMax: caches.seriesMax,
      labelPairCacheMax: config.labelPairCacheMax,
      retentionDays: Math.max(1, Math.round(config.retentionMs / 86_400_000)),
      historyRetentionMs: config.historyRetentionMs,
      // The schema version in the name lets a takeover see a writer of an older build that records no commit marks
      // (docs/decisions/0007-splice-point.md): it then splices at the old lease's until.
      applicationName: `promha-ingest/${String(SCHEMA_VERSION)}`,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      writeTimeoutMs: config.dbWriteTimeoutMs,
      leaseTimeoutMs: config.dbLeaseStepTimeoutMs,
      readTimeoutMs: config.dbReadTimeoutMs,
      keepAliveMs: config.dbTcpKeepaliveMs,
      readMaxConnections: config.dbReadMaxConnections,
      maxRegexBytes: config.maxRegexBytes,
      statementsCache: config.dbStatementsCache,
    }),
  );

  // Rule 11: non-leader requests wait here, bounded in data time (a takeover's gap is at most about the lease timeout
  // plus a refresh interval before this instance learns of it) and in bytes.
  const standby = new StandbyBuffer(config.standbyBufferBytes, config.leaseTimeoutMs + 2 * config.leaseRefreshMs, {
    overflow: (cluster, n) => metrics.haStandbyOverflow.inc({ cluster }, n),
  });
  const instanceName = `${hostname()}/${String(process.pid)}/${String(++instanceSeq)}`;
  const fills = new Map<string, Promise<void>>();
  const pendingFills = new Map<string, { lease: TakeoverNotice; attempts: number }>();
  const fill = (lease: TakeoverNotice, attempts = 1): void => {
    const previous = fills.get(lease.cluster) ?? Promise.resolve();
    const next = previous.then(async () => {
      const r = await pipeline.fill(lease);
      const key = `${lease.cluster}\u0000${String(lease.epoch)}`;
      if (r.failed > 0 && attempts < MAX_FILL_ATTEMPTS) pendingFills.set(key, { lease, attempts });
      else pendingFills.delete(key);
      if (r.filled > 0 || attempts === 1) await storage.leases.recordFill?.(lease.cluster, lease.epoch, instanceName, r.filled);
      app.log.info({ cluster: lease.cluster, leader: lease.leader, epoch: lease.epoch, splice: lease.start, ...r }, 'takeover filled from the standby buffer');
    });
    fills.set(
      lease.cluster,
      next.catch((e: unknown) => app.log.warn({ err: e, cluster: lease.cluster }, 'standby buffer fill failed')),
    );
  };

  const election = libs.createElection({
    store: storage.leases,
    clock,
    metrics: electionMetrics(metrics),
    onTakeover: (lease) => fill(lease),
    options: {
      clusterLabel: config.clusterLabel,
      replicaLabel: config.replicaLabel,
      leaseTimeoutMs: config.leaseTimeoutMs,
      leaseRefreshMs: config.leaseRefreshMs,
    },
  });

  let migrated = false;
  let leasesLoaded = false;
  let dbUp = false;
  let closing = false;
  const ready = (): boolean => migrated && (leasesLoaded || !config.highAvailability) && dbUp && !closing;
  // What /ready answers: this instance's readiness and, in a worker, every other worker's.
  const answersReady = (): boolean => ready() && (options.othersReady === undefined || options.othersReady());

  // Until the leases are loaded no decision can be trusted: answer 503 (retryable), not a guess.
  const gatedElection: ElectionPort = {
    decide: (part): Promise<Decision> =>
      leasesLoaded && election.isReady()
        ? election.decide(part)
        : Promise.reject(new IngestError('PROMHA_INGEST_NOT_READY', 'not ready: leases not loaded yet')),
    onFenceFailure: (f) => election.onFenceFailure(f),
    onWriteFailed: (fence) => election.onWriteFailed(fence),
  };

  const pipeline = new Pipeline({
    codec: libs.codec,
    split: libs.split,
    election: gatedElection,
    writer: storage,
    metrics,
    highAvailability: config.highAvailability,
    clusterLabel: config.clusterLabel,
    replicaLabel: config.replicaLabel,
    maxDecodedBytes: config.maxDecodedBytes,
    maxInFlightSamples: config.maxInFlightSamples,
    limits: {
      maxLabelNameBytes: config.maxLabelNameBytes,
      maxLabelValueBytes: config.maxLabelValueBytes,
      maxLabelsPerSeries: config.maxLabelsPerSeries,
      maxSeriesPerRequest: config.maxSeriesPerRequest,
      maxExemplarLabelRunes: config.maxExemplarLabelRunes,
    },
    futureGraceMs: config.futureGraceMs,
    clock,
    standby: config.highAvailability ? standby : undefined,
  });

  const app = Fastify({
    logger: options.logger ?? false,
    // Successful requests are counted in /metrics; logging each one would cost more than the write.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    ...(tls === undefined ? {} : { https: tls }),
  }) as unknown as FastifyInstance;
  await app.register(ingestApp, {
    pipeline,
    reader: createRemoteReader(libs.codec, storage, config.maxDecodedBytes, {
      maxSeries: config.readSeriesLimit,
      maxSamples: config.readSampleLimit,
    }),
    query: createQueryApi(storage),
    ha: createHaApi({ leases: () => election.leases(), history: (o) => storage.leases.history(o) }),
    health: { ready: answersReady },
    metrics,
    exposition: options.exposition,
    maxBodyBytes: config.maxBodyBytes,
    selectorLimits: { maxSelectorBytes: config.maxSelectorBytes, maxRegexBytes: config.maxRegexBytes },
    auth: createAuthenticator({ bearerToken, basicUsers }),
  });
  const log = app.log;
  log.info(
    { seriesMax: caches.seriesMax, labelSetsMax: caches.labelSetsMax, budgetBytes: caches.budgetBytes, heapLimitBytes: heap },
    `caches: ${caches.seriesMax} series, ${caches.labelSetsMax} label sets`,
  );
  const shortfall = heapShortfall(caches, heap);
  if (shortfall > 0) {
    log.warn(
      { heapLimitBytes: heap, neededMiB: caches.heapMiB },
      `the caches may need ${caches.heapMiB} MiB of JavaScript heap, more than this process has: start node with --max-old-space-size=${caches.heapMiB} or lower --cache.series-max`,
    );
  }
  metrics.seriesCacheMax.set(caches.seriesMax);
  metrics.labelPairCacheMax.set(config.labelPairCacheMax);
  metrics.labelSetCacheMax.set(caches.labelSetsMax);

  const after =
    options.timers?.after ??
    ((ms: number, fn: () => void): (() => void) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return () => clearTimeout(t);
    });
  const timers = new Set<() => void>();
  const later = (ms: number, f: () => Promise<void>): void => {
    if (closing) return;
    const cancel = after(ms, () => {
      timers.delete(cancel);
      void f();
    });
    timers.add(cancel);
  };

  // Cache counters are cumulative in the libraries; the metrics take what was added since the last publish.
  let lastStats = { hits: 0, misses: 0, evictions: 0 };
  let lastPairs = { hits: 0, misses: 0, evictions: 0 };
  let lastSets = libs.decoderCaches.stats();
  const publish = (): void => {
    const s = storage.stats();
    metrics.seriesCacheHits.inc(Math.max(0, s.seriesCacheHits - lastStats.hits));
    metrics.seriesCacheMisses.inc(Math.max(0, s.seriesCacheMisses - lastStats.misses));
    metrics.seriesCacheEvictions.inc(Math.max(0, s.seriesCacheEvictions - lastStats.evictions));
    lastStats = { hits: s.seriesCacheHits, misses: s.seriesCacheMisses, evictions: s.seriesCacheEvictions };
    metrics.seriesCacheSize.set(s.seriesCacheSize);
    metrics.labelPairCacheHits.inc(Math.max(0, s.labelPairCacheHits - lastPairs.hits));
    metrics.labelPairCacheMisses.inc(Math.max(0, s.labelPairCacheMisses - lastPairs.misses));
    metrics.labelPairCacheEvictions.inc(Math.max(0, s.labelPairCacheEvictions - lastPairs.evictions));
    lastPairs = { hits: s.labelPairCacheHits, misses: s.labelPairCacheMisses, evictions: s.labelPairCacheEvictions };
    metrics.labelPairCacheSize.set(s.labelPairCacheSize);
    const sets = libs.decoderCaches.stats();
    metrics.labelSetCacheHits.inc(Math.max(0, sets.hits - lastSets.hits));
    metrics.labelSetCacheMisses.inc(Math.max(0, sets.misses - lastSets.misses));
    metrics.labelSetCacheEvictions.inc(Math.max(0, sets.evictions - lastSets.evictions));
    lastSets = sets;
    metrics.labelSetCacheSize.set(sets.size);
    metrics.dbPoolConnections.set({ pool: 'write', state: 'total' }, s.poolTotal);
    metrics.dbPoolConnections.set({ pool: 'write', state: 'idle' }, s.poolIdle);
    metrics.dbPoolConnections.set({ pool: 'write', state: 'waiting' }, s.poolWaiting);
    metrics.dbPoolConnections.set({ pool: 'read', state: 'total' }, s.readPoolTotal);
    metrics.dbPoolConnections.set({ pool: 'read', state: 'idle' }, s.readPoolIdle);
    metrics.dbPoolConnections.set({ pool: 'read', state: 'waiting' }, s.readPoolWaiting);
    metrics.dbUp.set(dbUp ? 1 : 0);
    metrics.ready.set(ready() ? 1 : 0);
  };

  const tick = async (): Promise<void> => {
    // With HA on, the lease sync is the round trip that shows the database answers; otherwise a ping.
    const syncs = leasesLoaded && config.highAvailability;
    try {
      await storage.connect();
      await (syncs ? election.sync() : storage.ping());
      if (!dbUp) log.info('database answers');
      dbUp = true;
    } catch (e: unknown) {
      if (dbUp) log.warn({ err: e }, 'database does not answer; not ready');
      dbUp = false;
    }
    if (dbUp && syncs) {
      // Fills that left requests behind (the database failed meanwhile) try again, at most MAX_FILL_ATTEMPTS times
      // (a lease taken over since is still filled: its interval is closed, and its leader's data inside it storable).
      for (const [key, p] of pendingFills) {
        pendingFills.delete(key);
        fill(p.lease, p.attempts + 1);
      }
    }
    publish();
    later(config.leaseRefreshMs, tick);
  };

  const maintain = async (): Promise<void> => {
    await storage.maintain(clock.now()).catch((e: unknown) => log.warn({ err: e }, 'maintenance failed'));
    later(MAINTAIN_EVERY_MS, maintain);
  };

  let resolveStarted!: () => void;
  const startedPromise = new Promise<void>((r) => (resolveStarted = r));
  const startUp = async (): Promise<void> => {
    try {
      await storage.connect();
      if (!migrated) {
        await storage.migrate();
        migrated = true;
        dbUp = true;
        log.info('database migrated');
      }
      if (config.highAvailability) {
        await election.start();
        leasesLoaded = true;
        log.info({ clusters: election.leases().length }, 'leases loaded');
      }
      publish();
      resolveStarted();
      if (options.loops ?? true) {
        later(config.leaseRefreshMs, tick);
        later(0, maintain);
      }
    } catch (e: unknown) {
      const retryMs = options.startupRetryMs ?? STARTUP_RETRY_MS;
      log.warn({ err: e }, `start-up failed; retrying in ${retryMs}ms`);
      later(retryMs, startUp);
    }
  };
  void startUp();

  return {
    app,
    metrics,
    database: embedded === undefined ? redactUri(uri) : `embedded PostgreSQL in ${resolve(config.dbEmbeddedDir)} (${redactUri(uri)})`,
    ready,
    started: () => startedPromise,
    async close() {
      closing = true;
      for (const cancel of timers) cancel();
      timers.clear();
      // Fastify stops accepting, answers 503 to requests arriving meanwhile, and waits for in-flight ones.
      await app.close();
      await storage.close();
      await embedded?.stop();
    },
  };
}
