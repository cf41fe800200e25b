/**
 * Codec benchmarks: snappy HTTP body -> normalized model with @promha/codec, against protobufjs' reflection
 * decoder (a protobuf.Root loaded from the same vendored .proto files, int64 as numbers) on the same bytes, snappyjs
 * uncompress included in the baseline. Measured interleaved in one process; the unit is samples/s.
 *
 * Request shapes (deterministic, realistic label sets as a Kubernetes Prometheus HA pair sends them: 10 labels per
 * series incl. `cluster` and `__replica__` external labels, ~60 metric names, 40 targets):
 * - codec.decode.v1: 2,000 series x 1 sample (Prometheus' default max_samples_per_send=2000 in current versions).
 * - codec.decode.v1.500: 500 series x 1 sample: Prometheus 2.42 (Debian) sends at most 500 samples per request, and
 *   in steady state each series has one sample per scrape in a batch.
 * - codec.decode.v1.500-backlog: 50 series x 10 samples: the same 500-sample cap while catching up a backlog.
 * - codec.decode.v1.cold: as codec.decode.v1 with the decoder's intern caches emptied before every request.
 * - codec.decode.v2: the 2,000-series request as remote write 2.0 (protobufjs does not resolve symbols: it does less).
 * - codec.decode.v2.resolved: the same, with the baseline also resolving label refs into label objects.
 * - codec.encode.v1: model -> snappy body, against protobufjs encode of a prepared message + snappyjs compress.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  decodeWriteRequest,
  encodeWriteRequest,
  resetDecoderCaches,
  snappyCompress,
  type Label,
  type TimeSeries,
  type WriteRequest,
} from '@promha/codec';
import protobuf from 'protobufjs';
import { prng } from '../internal/load.js';
import { interleave, measurement, type Bench, type Measurement } from '../harness.js';

const require = createRequire(import.meta.url);
const snappyjs = require('snappyjs') as { uncompress(b: Uint8Array): Uint8Array; compress(b: Uint8Array): Uint8Array };

function loadTypes(): { readonly v1: protobuf.Type; readonly v2: protobuf.Type } {
  protobuf.util.Long = null as unknown as typeof protobuf.util.Long;
  protobuf.configure();
  // The vendored .proto files of @promha/codec, read as data (a require.resolve of the package would count as a
  // lazy import of the library for Nx's module-boundary rule).
  const protoDir = join(import.meta.dirname, '..', '..', '..', '..', 'libs', 'codec', 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(['prometheus/remote.proto', 'io/prometheus/write/v2/types.proto']);
  return { v1: root.lookupType('prometheus.WriteRequest'), v2: root.lookupType('io.prometheus.write.v2.Request') };
}

const METRIC_STEMS = [
  'http_server_requests_seconds', 'http_client_requests_seconds', 'grpc_server_handling_seconds', 'process_cpu_seconds',
  'process_resident_memory_bytes', 'go_gc_duration_seconds', 'go_goroutines', 'go_memstats_alloc_bytes',
  'container_cpu_usage_seconds', 'container_memory_working_set_bytes', 'kube_pod_container_status_restarts',
  'node_network_receive_bytes', 'node_filesystem_avail_bytes', 'jvm_memory_used_bytes', 'db_client_connections_usage',
];
const SUFFIXES = ['_total', '_bucket', '_count', '_sum'];
const NAMESPACES = ['payments', 'checkout', 'search', 'monitoring'];

function buildRequest(seriesCount: number, samplesPerSeries: number, seed: number): WriteRequest {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const targets = Array.from({ length: 40 }, (_, i) => {
    const ns = NAMESPACES[i % NAMESPACES.length]!;
    const app = `${ns}-api`;
    const hash = Math.floor(rnd() * 0xffffffff).toString(36).slice(0, 5);
    return {
      namespace: ns,
      job: `${ns}/${app}`,
      pod: `${app}-7d9f8b6c5-${hash}`,
      instance: `10.42.${i >> 4}.${(i * 7) % 250}:8080`,
      container: i % 3 === 0 ? 'sidecar' : 'app',
    };
  });
  const series: TimeSeries[] = [];
  const t0 = 1_700_000_000_000;
  for (let s = 0; s < seriesCount; s++) {
    const target = targets[s % targets.length]!;
    const metric = `${METRIC_STEMS[Math.floor(s / 40) % METRIC_STEMS.length]!}${SUFFIXES[Math.floor(s / 600) % SUFFIXES.length]!}`;
    const extra: Label = metric.endsWith('_bucket')
      ? { name: 'le', value: pick(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf']) }
      : { name: 'code', value: pick(['200', '201', '204', '400', '404', '500', '503']) };
    const labels: Label[] = [
      { name: '__name__', value: metric },
      { name: '__replica__', value: 'prometheus-k8s-0' },
      { name: 'cluster', value: 'prod-eu-west-1' },
      { name: 'container', value: target.container },
      { name: 'endpoint', value: 'http-metrics' },
      { name: 'instance', value: target.instance },
      { name: 'job', value: target.job },
      { name: 'namespace', value: target.namespace },
      { name: 'pod', value: target.pod },
      extra,
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const samples = Array.from({ length: samplesPerSeries }, (_, k) => ({
      value: Math.round(rnd() * 1e6) / 100,
      timestamp: t0 + k * 15_000 + (s % 1000),
    }));
    series.push({ labels, samples, histograms: [], exemplars: [] });
  }
  return { version: 1, series, metadata: [] };
}

const MAX = 64 << 20;

async function* decodeBench(
  name: string,
  req: WriteRequest,
  version: 1 | 2,
  type: protobuf.Type,
  cold = false,
): AsyncIterable<Measurement> {
  const body = snappyCompress(encodeWriteRequest(req, version));
  const samples = req.series.reduce((n, s) => n + s.samples.length, 0);
  const decodeOurs = cold
    ? () => {
        resetDecoderCaches();
        return decodeWriteRequest(body, { version, maxDecodedBytes: MAX });
      }
    : () => decodeWriteRequest(body, { version, maxDecodedBytes: MAX });
  const r = await interleave(decodeOurs, () => type.decode(snappyjs.uncompress(body)), samples);
  yield measurement(name, 'samples/s', r.a, 'protobufjs-reflection', r.b);
}

export const benches: readonly Bench[] = [
  {
    name: 'codec.decode.v1',
    run: () => decodeBench('codec.decode.v1', buildRequest(2000, 1, 1), 1, loadTypes().v1),
  },
  {
    name: 'codec.decode.v1.500',
    run: () => decodeBench('codec.decode.v1.500', buildRequest(500, 1, 2), 1, loadTypes().v1),
  },
  {
    name: 'codec.decode.v1.500-backlog',
    run: () => decodeBench('codec.decode.v1.500-backlog', buildRequest(50, 10, 3), 1, loadTypes().v1),
  },
  {
    name: 'codec.decode.v1.cold',
    run: () => decodeBench('codec.decode.v1.cold', buildRequest(2000, 1, 1), 1, loadTypes().v1, true),
  },
  {
    name: 'codec.decode.v2',
    run: () => decodeBench('codec.decode.v2', { ...buildRequest(2000, 1, 1), version: 2 }, 2, loadTypes().v2),
  },
  {
    // protobufjs leaves 2.0 as symbols + refs; this baseline adds the ref resolution any consumer needs.
    name: 'codec.decode.v2.resolved',
    run: async function* () {
      const { v2 } = loadTypes();
      const body = snappyCompress(encodeWriteRequest({ ...buildRequest(2000, 1, 1), version: 2 }, 2));
      interface PbV2 {
        symbols: string[];
        timeseries: { labelsRefs: number[]; samples: { value: number; timestamp: number }[] }[];
      }
      const baseline = () => {
        const m = v2.decode(snappyjs.uncompress(body)) as unknown as PbV2;
        return m.timeseries.map((s) => {
          const labels: Label[] = [];
          for (let i = 0; i < s.labelsRefs.length; i += 2) {
            labels.push({ name: m.symbols[s.labelsRefs[i]!]!, value: m.symbols[s.labelsRefs[i + 1]!]! });
          }
          return { labels, samples: s.samples };
        });
      };
      const r = await interleave(() => decodeWriteRequest(body, { version: 2, maxDecodedBytes: MAX }), baseline, 2000);
      yield measurement('codec.decode.v2.resolved', 'samples/s', r.a, 'protobufjs-reflection+resolve', r.b);
    },
  },
  {
    name: 'codec.encode.v1',
    run: async function* () {
      const { v1 } = loadTypes();
      const req = buildRequest(2000, 1, 1);
      const message = v1.decode(encodeWriteRequest(req, 1));
      const r = await interleave(
        () => snappyCompress(encodeWriteRequest(req, 1)),
        () => snappyjs.compress(v1.encode(message).finish()),
        2000,
      );
      yield measurement('codec.encode.v1', 'samples/s', r.a, 'protobufjs-reflection+snappyjs', r.b);
    },
  },
];
