/**
 * The read side: remote read over the storage's sample reader, the Prometheus HTTP API's metadata queries
 * (several `match[]` are unioned, as Prometheus does), and the HA lease views. Reader errors leave by who can fix
 * them (errors.ts `fromStorage`): the database's trouble 503, a regex it cannot run or a read past the limits
 * 400; read-request decoding errors keep the codec's 400/413.
 */
import type { Label, LabelMatcher } from '@promha/codec';
import type { Lease } from '@promha/election';
import type { HaApi, QueryApi, RemoteReader } from '../app.js';
import { fromStorage, IngestError } from '../errors.js';
import type { LeaseViewPort, ReadCodecPort, ReaderPort, SeriesSamples } from './ports.js';

async function db<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e: unknown) {
    throw fromStorage('database read failed', e);
  }
}

/** Bounds of one remote-read request, over all its queries; 0 means no limit. */
export interface ReadLimits {
  readonly maxSeries: number;
  readonly maxSamples: number;
}

/**
 * Remote read. The response is one message (the SAMPLES type Prometheus asks for), so its memory is bounded by the
 * limits: the read stops loading as soon as a limit is passed and answers 400, as Prometheus does for its
 * `--storage.remote.read-sample-limit`.
 */
export function createRemoteReader(codec: ReadCodecPort, reader: ReaderPort, maxDecodedBytes: number, limits: ReadLimits): RemoteReader {
  return {
    async read(body) {
      const request = codec.decodeReadRequest(body, { maxDecodedBytes });
      const results: { timeseries: SeriesSamples[] }[] = [];
      let series = 0;
      let samples = 0;
      for (const q of request.queries) {
        const timeseries = await db(async () => {
          const out: SeriesSamples[] = [];
          // Storage stops before loading past what is left of the series limit (the queries share it).
          const left = limits.maxSeries > 0 ? { maxSeries: Math.max(1, limits.maxSeries - series) } : {};
          for await (const s of reader.querySamples(q.matchers, q.startTimestampMs, q.endTimestampMs, left)) {
            series++;
            samples += s.samples.length + s.histograms.length;
            if (limits.maxSeries > 0 && series > limits.maxSeries) {
              throw new IngestError('PROMHA_INGEST_READ_LIMIT', `exceeded series limit (${limits.maxSeries})`);
            }
            if (limits.maxSamples > 0 && samples > limits.maxSamples) {
              throw new IngestError('PROMHA_INGEST_READ_LIMIT', `exceeded sample limit (${limits.maxSamples})`);
            }
            out.push(s);
          }
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
