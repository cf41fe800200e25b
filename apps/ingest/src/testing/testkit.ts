/**
 * Request builders shared by the integration tests, the process test and the benchmark: real remote-write
 * bodies (protobuf + snappy) as Prometheus sends them.
 */
import {
  encodeWriteRequest,
  snappyCompress,
  WRITE_V1_CONTENT_TYPE,
  WRITE_V2_CONTENT_TYPE,
  type MetricMetadata,
  type TimeSeries,
} from '@promha/codec';

/** A float series; labels are sorted as the codec requires. */
export function series(name: string, labels: Readonly<Record<string, string>>, samples: readonly (readonly [number, number])[]): TimeSeries {
  const all = [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))];
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { labels: all, samples: samples.map(([timestamp, value]) => ({ timestamp, value })), histograms: [], exemplars: [] };
}

/** A snappy-compressed remote-write body. */
export function writeBody(s: readonly TimeSeries[], version: 1 | 2 = 1, metadata: readonly MetricMetadata[] = []): Buffer {
  const bytes = snappyCompress(encodeWriteRequest({ version, series: s, metadata }, version));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function writeContentType(version: 1 | 2): string {
  return version === 1 ? WRITE_V1_CONTENT_TYPE : WRITE_V2_CONTENT_TYPE;
}
