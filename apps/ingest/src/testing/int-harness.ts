/**
 * Integration-test harness: a service on a fresh database of the run's test server (one server per run, via
 * `@promha/storage`'s vitest globalSetup), plus a second storage handle to look at what was stored.
 */
import type { LabelMatcher } from '@promha/codec';
import { startTestDatabase } from '@promha/storage/testing';
import { resolveConfig, type Config } from '../config.js';
import { startService, type RunningService, type StorageService } from '../service.js';
import { realLibraries } from '../internal/libraries.js';

export interface Harness {
  readonly uri: string;
  readonly service: RunningService;
  /** Every stored series matching, labels as `name=value` joined by `,`, with sorted sample timestamps. */
  stored(matchers: readonly LabelMatcher[]): Promise<Map<string, number[]>>;
  close(): Promise<void>;
}

export function testConfig(uri: string, argv: readonly string[] = []): Config {
  const r = resolveConfig([`--db.uri=${uri}`, '--log.level=silent', ...argv], {});
  if (r.kind !== 'run') throw new Error('unexpected --help');
  return r.config;
}

export async function freshDatabase(): Promise<string> {
  const server = await startTestDatabase();
  return server.createDatabase();
}

export async function startHarness(argv: readonly string[] = [], uri?: string): Promise<Harness> {
  const dbUri = uri ?? (await freshDatabase());
  const libs = realLibraries();
  const service = await startService(testConfig(dbUri, argv), libs, { loops: false, startupRetryMs: 50 });
  await service.started();
  await service.app.ready();
  let reader: StorageService | undefined;
  return {
    uri: dbUri,
    service,
    async stored(matchers) {
      reader ??= await libs.openStorage({
        uri: dbUri,
        maxConnections: 2,
        seriesCacheMax: 1000,
        retentionDays: 90,
        historyRetentionMs: 86_400_000,
        applicationName: 'promha-ingest-test',
      });
      const out = new Map<string, number[]>();
      for await (const s of reader.querySamples(matchers, 0, Number.MAX_SAFE_INTEGER)) {
        const key = s.labels.map((l) => `${l.name}=${l.value}`).join(',');
        out.set(key, [...(out.get(key) ?? []), ...s.samples.map((x) => x.timestamp)].sort((a, b) => a - b));
      }
      return out;
    },
    async close() {
      await service.close();
      await reader?.close();
    },
  };
}
