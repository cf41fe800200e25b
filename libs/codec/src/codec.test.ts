import { describe, expect, it } from 'vitest';
import {
  CodecError,
  countWritten,
  decodeWriteRequest,
  decodeWriteRequestProto,
  encodeWriteRequest,
  EXEMPLARS_WRITTEN_HEADER,
  HISTOGRAMS_WRITTEN_HEADER,
  parseWriteContentType,
  SAMPLES_WRITTEN_HEADER,
  snappyCompress,
  type CodecErrorCode,
  type Histogram,
  type TimeSeries,
  type WriteRequest,
} from './index.js';
import { io, oracleDecodeV1, oracleDecodeV2, prometheus, toOracleV1, toOracleV2 } from './test-util/oracle.js';

const STALE = new Uint8Array([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]); // 0x7ff0000000000002, little endian
const staleNaN = new Float64Array(STALE.buffer)[0]!;

function series(labels: Record<string, string>, rest: Partial<TimeSeries> = {}): TimeSeries {
  return {
    labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
    samples: [],
    histograms: [],
    exemplars: [],
    ...rest,
  };
}

const intHistogram: Histogram = {
  isFloat: false,
  count: 12,
  zeroCount: 2,
  sum: 18.4,
  schema: 1,
  zeroThreshold: 0.001,
  negativeSpans: [{ offset: 0, length: 2 }],
  negativeDeltas: [1, 1],
  negativeCounts: [],
  positiveSpans: [
    { offset: 0, length: 2 },
    { offset: 1, length: 2 },
  ],
  positiveDeltas: [1, 2, -1, -1],
  positiveCounts: [],
  resetHint: 'no',
  timestamp: 1_700_000_000_000,
  customValues: [],
};

const floatHistogram: Histogram = {
  ...intHistogram,
  isFloat: true,
  count: 12.5,
  zeroCount: 0,
  schema: -53,
  negativeSpans: [],
  negativeDeltas: [],
  positiveDeltas: [],
  positiveCounts: [1.5, 3, 8],
  positiveSpans: [{ offset: 0, length: 3 }],
  resetHint: 'gauge',
  customValues: [0.1, 0.5, 1],
};

/** Golden fixtures: small requests covering every field the model has. */
const FIXTURES: Record<string, WriteRequest> = {
  minimal: {
    version: 1,
    series: [series({ __name__: 'up', job: 'node' }, { samples: [{ value: 1, timestamp: 1_700_000_000_000 }] })],
    metadata: [],
  },
  everything: {
    version: 1,
    series: [
      series(
        { __name__: 'http_requests_total', __replica__: 'r1', cluster: 'eu-1', code: '200', job: 'api' },
        {
          samples: [
            { value: 1027, timestamp: 1_700_000_000_000 },
            { value: staleNaN, timestamp: 1_700_000_015_000 },
            { value: -0, timestamp: -1 },
          ],
          exemplars: [{ labels: [{ name: 'trace_id', value: 'abc123' }], value: 0.25, timestamp: 1_700_000_000_001 }],
        },
      ),
      series({ __name__: 'latency_seconds', cluster: 'eu-1', le: 'ünïcödé ✓' }, { histograms: [intHistogram, floatHistogram] }),
    ],
    metadata: [
      { metricFamilyName: 'http_requests_total', type: 'counter', help: 'Requests.', unit: '' },
      { metricFamilyName: 'latency_seconds', type: 'histogram', help: 'Latency.', unit: 'seconds' },
    ],
  },
  metadataOnly: {
    version: 1,
    series: [],
    metadata: [{ metricFamilyName: 'up', type: 'gauge', help: 'Target is up.', unit: '' }],
  },
};

const V2_FIXTURE: WriteRequest = {
  version: 2,
  metadata: [],
  series: [
    series(
      { __name__: 'http_requests_total', cluster: 'eu-1', job: 'api' },
      {
        samples: [{ value: staleNaN, timestamp: 1_700_000_000_000 }],
        exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 3, timestamp: 1_700_000_000_000 }],
        metadata: { metricFamilyName: 'http_requests_total', type: 'counter', help: 'Requests.', unit: '' },
        createdTimestamp: 1_600_000_000_000,
      },
    ),
    series({ __name__: 'latency_seconds', job: 'api' }, { histograms: [intHistogram, floatHistogram] }),
  ],
};

function expectCodecError(fn: () => unknown, code: CodecErrorCode, seriesIndex?: number): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (e: unknown) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CodecError);
  const err = caught as CodecError;
  expect(err.code).toBe(code);
  if (seriesIndex !== undefined) expect(err.seriesIndex).toBe(seriesIndex);
  return err;
}

const MAX = 64 << 20;

describe('golden fixtures', () => {
  it('encodes the minimal 1.0 request to the expected bytes', () => {
    const hex = Buffer.from(encodeWriteRequest(FIXTURES.minimal!, 1)).toString('hex');
    // 0a 2f TimeSeries{ 0a 0e Label{__name__=up} 0a 0b Label{job=node} 12 10 Sample{1.0, 1700000000000} }
    expect(hex).toBe(
      '0a2f' + '0a0e0a085f5f6e616d655f5f12027570' + '0a0b0a036a6f6212046e6f6465' + '121009000000000000f03f1080d095ffbc31',
    );
  });

  for (const [name, req] of Object.entries(FIXTURES)) {
    it(`1.0 ${name}: our bytes equal protobufjs' and decode back (both decoders)`, () => {
      const ours = encodeWriteRequest(req, 1);
      const theirs = prometheus.WriteRequest.encode(toOracleV1(req)).finish();
      expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
      expect(decodeWriteRequest(snappyCompress(ours), { version: 1, maxDecodedBytes: MAX })).toEqual(req);
      expect(oracleDecodeV1(ours)).toEqual(req);
    });
  }

  it("2.0: our bytes equal protobufjs' and decode back (both decoders)", () => {
    const ours = encodeWriteRequest(V2_FIXTURE, 2);
    const theirs = io.prometheus.write.v2.Request.encode(toOracleV2(V2_FIXTURE)).finish();
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
    expect(decodeWriteRequest(snappyCompress(ours), { version: 2, maxDecodedBytes: MAX })).toEqual(V2_FIXTURE);
    expect(oracleDecodeV2(ours)).toEqual(V2_FIXTURE);
  });

  it('1.0 and 2.0 decode to the same normalized series', () => {
    const v1 = decodeWriteRequestProto(encodeWriteRequest({ ...V2_FIXTURE, version: 1 }, 1), 1);
    const v2 = decodeWriteRequestProto(encodeWriteRequest(V2_FIXTURE, 2), 2);
    // 1.0 has no per-series metadata or created timestamp.
    expect(v1.series.map((s) => [s.labels, s.samples, s.histograms, s.exemplars])).toEqual(
      v2.series.map((s) => [s.labels, s.samples, s.histograms, s.exemplars]),
    );
  });
});

describe('stale markers', () => {
  for (const version of [1, 2] as const) {
    it(`survive decode -> encode bit-exact in ${version}.0 (samples and histogram sums)`, () => {
      const req: WriteRequest = {
        version,
        metadata: [],
        series: [
          series({ __name__: 'a' }, { samples: [{ value: staleNaN, timestamp: 5 }] }),
          series({ __name__: 'b' }, { histograms: [{ ...intHistogram, sum: staleNaN }] }),
        ],
      };
      const bytes = encodeWriteRequest(req, version);
      const again = encodeWriteRequest(decodeWriteRequestProto(bytes, version), version);
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
      const hex = Buffer.from(STALE).toString('hex');
      expect(Buffer.from(again).toString('hex')).toContain(`09${hex}`); // Sample.value
      expect(Buffer.from(again).toString('hex')).toContain(`19${hex}`); // Histogram.sum
    });
  }
});

describe('validation', () => {
  const v1 = (timeseries: object[]) => prometheus.WriteRequest.encode(prometheus.WriteRequest.fromObject({ timeseries })).finish();
  const lbl = (name: string, value: string) => ({ name, value });

  it.each([
    ['unsorted labels', [lbl('__name__', 'a'), lbl('zone', 'x'), lbl('job', 'y')], 'CODEC_ERR_UNSORTED_LABELS'],
    ['duplicate label names', [lbl('__name__', 'a'), lbl('job', 'x'), lbl('job', 'y')], 'CODEC_ERR_DUPLICATE_LABEL'],
    ['an empty label name', [lbl('', 'x'), lbl('__name__', 'a')], 'CODEC_ERR_EMPTY_LABEL_NAME'],
    ['no __name__', [lbl('job', 'x')], 'CODEC_ERR_MISSING_METRIC_NAME'],
    ['no labels at all', [], 'CODEC_ERR_MISSING_METRIC_NAME'],
    ['a NUL byte in a value', [lbl('__name__', 'a'), lbl('job', 'x\u0000y')], 'CODEC_ERR_NUL_BYTE'],
    ['a NUL byte in a name', [lbl('__name__', 'a'), lbl('jo\u0000b', 'x')], 'CODEC_ERR_NUL_BYTE'],
  ] as const)('1.0 rejects %s, naming the series', (_what, labels, code) => {
    const bytes = v1([{ labels: [lbl('__name__', 'ok')] }, { labels }]);
    const err = expectCodecError(() => decodeWriteRequestProto(bytes, 1), code, 1);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/^series 1: /);
  });

  it('orders label names by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF21 sorts before U+1F600 in UTF-8 (and code points) but after it in UTF-16.
    const ok = v1([{ labels: [lbl('__name__', 'a'), lbl('\uff21', 'x'), lbl('\u{1f600}', 'y')] }]);
    expect(decodeWriteRequestProto(ok, 1).series[0]!.labels).toHaveLength(3);
    const bad = v1([{ labels: [lbl('__name__', 'a'), lbl('\u{1f600}', 'y'), lbl('\uff21', 'x')] }]);
    expectCodecError(() => decodeWriteRequestProto(bad, 1), 'CODEC_ERR_UNSORTED_LABELS', 0);
  });

  it('rejects invalid UTF-8 and keeps a BOM as data', () => {
    const bytes = v1([{ labels: [lbl('__name__', 'a'), lbl('job', 'XY')] }]);
    const at = Buffer.from(bytes).indexOf('XY');
    const bad = Uint8Array.from(bytes);
    bad[at] = 0xc3; // a lead byte followed by ASCII
    expectCodecError(() => decodeWriteRequestProto(bad, 1), 'CODEC_ERR_UTF8', 0);
    const bom = v1([{ labels: [lbl('__name__', 'a'), lbl('job', '\ufeffx')] }]);
    expect(decodeWriteRequestProto(bom, 1).series[0]!.labels[1]!.value).toBe('\ufeffx');
  });

  it('rejects timestamps that are not safe integers', () => {
    const bytes = v1([{ labels: [lbl('__name__', 'a')], samples: [{ value: 1, timestamp: 2 ** 60 }] }]);
    expectCodecError(() => decodeWriteRequestProto(bytes, 1), 'CODEC_ERR_INTEGER_RANGE', 0);
    expect(() => encodeWriteRequest({ version: 1, metadata: [], series: [series({ __name__: 'a' }, { samples: [{ value: 1, timestamp: 1.5 }] })] }, 1)).toThrow(CodecError);
  });

  it('rejects truncated protobuf and wrong wire types', () => {
    const bytes = encodeWriteRequest(FIXTURES.everything!, 1);
    for (const cut of [1, 5, 20, bytes.length - 1]) {
      expectCodecError(() => decodeWriteRequestProto(bytes.subarray(0, cut), 1), 'CODEC_ERR_PROTOBUF');
    }
    // TimeSeries whose field 2 (samples, a message) arrives as a varint.
    expectCodecError(() => decodeWriteRequestProto(Uint8Array.of(0x0a, 0x02, 0x10, 0x01), 1), 'CODEC_ERR_PROTOBUF', 0);
    // Group wire types are not accepted.
    expectCodecError(() => decodeWriteRequestProto(Uint8Array.of(0x0b), 1), 'CODEC_ERR_PROTOBUF');
  });

  it('skips unknown fields', () => {
    const bytes = encodeWriteRequest(FIXTURES.minimal!, 1);
    const extended = Uint8Array.of(...bytes, 0xf8, 0x01, 0x05, 0x12, 0x00); // field 31 varint, field 2 (reserved) empty
    expect(decodeWriteRequestProto(extended, 1)).toEqual(FIXTURES.minimal);
  });

  const v2 = (o: object) => io.prometheus.write.v2.Request.encode(io.prometheus.write.v2.Request.fromObject(o)).finish();

  it('2.0 rejects symbol refs out of range, odd ref counts and a non-empty symbols[0]', () => {
    const symbols = ['', '__name__', 'a', 'job', 'x'];
    expectCodecError(() => decodeWriteRequestProto(v2({ symbols, timeseries: [{ labelsRefs: [1, 2] }, { labelsRefs: [1, 2, 3, 9] }] }), 2), 'CODEC_ERR_SYMBOL_REF', 1);
    expectCodecError(() => decodeWriteRequestProto(v2({ symbols, timeseries: [{ labelsRefs: [1, 2, 3] }] }), 2), 'CODEC_ERR_ODD_LABEL_REFS', 0);
    expectCodecError(() => decodeWriteRequestProto(v2({ symbols: ['x', ...symbols], timeseries: [] }), 2), 'CODEC_ERR_FIRST_SYMBOL');
    expectCodecError(
      () => decodeWriteRequestProto(v2({ symbols, timeseries: [{ labelsRefs: [1, 2], metadata: { helpRef: 99 } }] }), 2),
      'CODEC_ERR_SYMBOL_REF',
      0,
    );
    expectCodecError(() => decodeWriteRequestProto(v2({ symbols, timeseries: [{ labelsRefs: [3, 4, 1, 2] }] }), 2), 'CODEC_ERR_UNSORTED_LABELS', 0);
    expectCodecError(() => decodeWriteRequestProto(v2({ symbols: ['', '__name__', 'a\u0000'], timeseries: [{ labelsRefs: [1, 2] }] }), 2), 'CODEC_ERR_NUL_BYTE', 0);
  });

  it('2.0 accepts series before symbols on the wire', () => {
    const bytes = encodeWriteRequest(V2_FIXTURE, 2);
    const m = io.prometheus.write.v2.Request.decode(bytes);
    const symbols = io.prometheus.write.v2.Request.encode({ symbols: m.symbols, timeseries: [] }).finish();
    const series = io.prometheus.write.v2.Request.encode({ symbols: [], timeseries: m.timeseries }).finish();
    expect(decodeWriteRequestProto(Uint8Array.of(...series, ...symbols), 2)).toEqual(V2_FIXTURE);
  });

  it('answers 413 for a body declaring more than the cap, before decompressing', () => {
    const body = snappyCompress(encodeWriteRequest(FIXTURES.everything!, 1));
    const err = expectCodecError(() => decodeWriteRequest(body, { version: 1, maxDecodedBytes: 100 }), 'CODEC_ERR_TOO_LARGE');
    expect(err.status).toBe(413);
  });
});

describe('content type', () => {
  it.each([
    ['application/x-protobuf', 1],
    ['application/x-protobuf; proto=prometheus.WriteRequest', 1],
    ['Application/X-Protobuf;proto="prometheus.WriteRequest"', 1],
    ['application/x-protobuf;proto=io.prometheus.write.v2.Request', 2],
    ['application/x-protobuf; charset=utf-8; proto=io.prometheus.write.v2.Request', 2],
    [undefined, 1],
  ] as const)('%s is version %d', (ct, version) => {
    expect(parseWriteContentType(ct)).toBe(version);
  });

  it.each(['application/json', 'text/plain', 'application/x-protobuf;proto=io.prometheus.write.v3.Request', 'application/protobuf'])(
    '%s is 415',
    (ct) => {
      expect(expectCodecError(() => parseWriteContentType(ct), 'CODEC_ERR_CONTENT_TYPE').status).toBe(415);
    },
  );

  it('names the 2.0 response headers and counts what a request carries', () => {
    expect([SAMPLES_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, EXEMPLARS_WRITTEN_HEADER]).toEqual([
      'X-Prometheus-Remote-Write-Samples-Written',
      'X-Prometheus-Remote-Write-Histograms-Written',
      'X-Prometheus-Remote-Write-Exemplars-Written',
    ]);
    expect(countWritten(FIXTURES.everything!)).toEqual({ samples: 3, histograms: 2, exemplars: 1 });
  });
});

describe('decoder caches', () => {
  it('never hand one series the labels of another with nearly the same bytes', () => {
    const one = (value: string) =>
      decodeWriteRequestProto(encodeWriteRequest({ version: 1, metadata: [], series: [series({ __name__: 'm', le: value })] }, 1), 1);
    for (let round = 0; round < 3; round++) {
      expect(one('0.1').series[0]!.labels[1]!.value).toBe('0.1');
      expect(one('0.5').series[0]!.labels[1]!.value).toBe('0.5');
    }
  });

  it('handles labels that follow other fields (legal, not what Prometheus sends), warm or cold', () => {
    const name = [0x0a, 0x0d, 0x0a, 0x08, ...Buffer.from('__name__'), 0x12, 0x01, 0x61]; // Label{__name__=a}
    const job = [0x0a, 0x08, 0x0a, 0x03, ...Buffer.from('job'), 0x12, 0x01, 0x78]; // Label{job=x}
    const sample = [0x12, 0x02, 0x10, 0x05]; // Sample{timestamp: 5}
    const body = [...name, ...sample, ...job];
    const bytes = Uint8Array.of(0x0a, body.length, ...body);
    // Warm the cache with the leading run alone first.
    decodeWriteRequestProto(Uint8Array.of(0x0a, name.length, ...name), 1);
    for (let i = 0; i < 2; i++) {
      expect(decodeWriteRequestProto(bytes, 1).series[0]!.labels).toEqual([
        { name: '__name__', value: 'a' },
        { name: 'job', value: 'x' },
      ]);
    }
    const unsorted = Uint8Array.of(0x0a, body.length, ...job, ...sample, ...name);
    expectCodecError(() => decodeWriteRequestProto(unsorted, 1), 'CODEC_ERR_UNSORTED_LABELS', 0);
  });
});
