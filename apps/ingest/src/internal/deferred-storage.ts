/**
 * A storage handle that exists before the database answers: `openStorage` connects eagerly, but the service
 * must serve `/healthz` and answer `/ready` 503 while the database is down at start. Until `connect()`
 * succeeded every call fails as database trouble (503), never as a client error.
 */
import type { LeaseStore } from '@promha/election';
import { IngestError } from '../errors.js';
import type { StorageService } from '../service.js';

export interface DeferredStorage extends StorageService {
  /** Opens the real storage if not open yet; rejects while the database does not answer. */
  connect(): Promise<void>;
  connected(): boolean;
}

export function deferredStorage(open: () => Promise<StorageService>): DeferredStorage {
  let current: StorageService | undefined;
  let opening: Promise<void> | undefined;
  const get = (): StorageService => {
    if (current === undefined) throw new IngestError('PROMHA_INGEST_UNAVAILABLE', 'database not connected yet');
    return current;
  };
  const call = <T>(f: (s: StorageService) => Promise<T>): Promise<T> => {
    try {
      return f(get());
    } catch (e: unknown) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  };
  const leases: LeaseStore = {
    loadAll: () => call((s) => s.leases.loadAll()),
    get: (cluster) => call((s) => s.leases.get(cluster)),
    create: (cluster, leader, start, until, wallNow) => call((s) => s.leases.create(cluster, leader, start, until, wallNow)),
    extend: (request) => call((s) => s.leases.extend(request)),
    takeOver: (request) => call((s) => s.leases.takeOver(request)),
    history: (options) => call((s) => s.leases.history(options)),
    pruneHistory: (wallBefore) => call((s) => s.leases.pruneHistory(wallBefore)),
    recordFill: (cluster, epoch, instance, samples) => call((s) => s.leases.recordFill?.(cluster, epoch, instance, samples) ?? Promise.resolve()),
    now: () => call((s) => (s.leases.now === undefined ? Promise.resolve(undefined) : s.leases.now())),
    snapshot: (historyLimit) =>
      call(async (s) => {
        const store = s.leases;
        if (store.snapshot !== undefined) return store.snapshot(historyLimit);
        const now = await store.now?.();
        return { now, leases: await store.loadAll(), history: await store.history({ limit: historyLimit }) };
      }),
  };
  return {
    connect() {
      if (current !== undefined) return Promise.resolve();
      opening ??= open().then(
        (s) => {
          current = s;
          opening = undefined;
        },
        (e: unknown) => {
          opening = undefined;
          throw e;
        },
      );
      return opening;
    },
    connected: () => current !== undefined,
    leases,
    migrate: () => call((s) => s.migrate()),
    write: (part) => call((s) => s.write(part)),
    upsertMetadata: (m) => call((s) => s.upsertMetadata(m)),
    async *querySamples(matchers, start, end, limits) {
      yield* get().querySamples(matchers, start, end, limits);
    },
    series: (m, start, end, limit) => call((s) => s.series(m, start, end, limit)),
    labelNames: (m, start, end) => call((s) => s.labelNames(m, start, end)),
    labelValues: (name, m, start, end) => call((s) => s.labelValues(name, m, start, end)),
    maintain: (wallNow) => call((s) => s.maintain(wallNow)),
    ping: () => call((s) => s.ping()),
    stats: () =>
      current?.stats() ?? {
        seriesCacheSize: 0,
        seriesCacheHits: 0,
        seriesCacheMisses: 0,
        seriesCacheEvictions: 0,
        labelPairCacheSize: 0,
        labelPairCacheHits: 0,
        labelPairCacheMisses: 0,
        labelPairCacheEvictions: 0,
        poolTotal: 0,
        poolIdle: 0,
        poolWaiting: 0,
        readPoolTotal: 0,
        readPoolIdle: 0,
        readPoolWaiting: 0,
      },
    close: async () => {
      await opening?.catch(() => undefined);
      await current?.close();
    },
  };
}
