/**
 * The read side: remote read over the storage's sample reader, the Prometheus HTTP API's metadata queries
 * (several `match[]` are unioned, as Prometheus does), and the HA lease views. Reader errors are database
 * trouble and leave as 503; read-request decoding errors keep the codec's 400/413.
 */
import type { Label, LabelMatcher } from '@promha/codec';
import type { Lease } from '@promha/election';
import type { HaApi, QueryApi, RemoteReader } from '../app.js';
import { IngestError } from '../errors.js';
import type { LeaseViewPort, ReadCodecPort, ReaderPort, SeriesSamples } from './ports.js';

function unavailable(e: unknown): IngestError {
  return new IngestError('PROMHA_INGEST_UNAVAILABLE', `database read failed: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
  });
}

async function db<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e: unknown) {
    throw unavailable(e);
  }
}

export function createRemoteReader(codec: ReadCodecPort, reader: ReaderPort, maxDecodedBytes: number): RemoteReader {
  return {
    async read(body) {
      const request = codec.decodeReadRequest(body, { maxDecodedBytes });
      const results: { timeseries: SeriesSamples[] }[] = [];
      for (const q of request.queries) {
        const timeseries = await db(async () => {
          const out: SeriesSamples[] = [];
          for await (const s of reader.querySamples(q.matchers, q.startTimestampMs, q.endTimestampMs)) out.push(s);
          return out;
        });
        results.push({ timeseries });
      }
      return codec.encodeReadResponse(results);
    },
  };
}

function labelsKey(labels: readonly Label[]): string {
  return labels.map((l) => `${l.name}\u0000${l.value}`).join('\u0001');
}

function sortedUnion(lists: readonly (readonly string[])[]): string[] {
  return [...new Set(lists.flat())].sort();
}

export function createQueryApi(reader: ReaderPort): QueryApi {
  const each = async <T>(selectors: readonly (readonly LabelMatcher[])[], f: (m: readonly LabelMatcher[]) => Promise<T>): Promise<T[]> =>
    db(() => Promise.all((selectors.length === 0 ? [[]] : selectors).map(f)));
  return {
    async series(selectors, start, end, limit) {
      const found = await each(selectors, (m) => reader.series(m, start, end, limit));
      const seen = new Map<string, readonly Label[]>();
      for (const list of found) for (const labels of list) seen.set(labelsKey(labels), labels);
      const out = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, labels]) => labels);
      return limit === undefined ? out : out.slice(0, limit);
    },
    async labelNames(selectors, start, end) {
      return sortedUnion(await each(selectors, (m) => reader.labelNames(m, start, end)));
    },
    async labelValues(name, selectors, start, end) {
      return sortedUnion(await each(selectors, (m) => reader.labelValues(name, m, start, end)));
    },
  };
}

export function createHaApi(view: LeaseViewPort): HaApi {
  return {
    clusters: (): Promise<readonly Lease[]> => Promise.resolve(view.leases()),
    history: (options) => db(() => view.history(options)),
  };
}
