import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  decodeReadRequest,
  decodeWriteRequest,
  decodeWriteRequestProto,
  DEFAULT_WRITE_LIMITS,
  encodeWriteRequest,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  peekWriteRequest,
  snappyCompress,
  snappyUncompress,
  type WriteLimits,
  type WriteRequest,
} from './index.js';
import { propertySeed, requestV1, requestV2 } from './test-util/arbitraries.js';

const LIMIT = 1 << 20;

/** Runs `fn`; passes when it returns or throws a CodecError, fails on any other exception. */
function onlyCodecErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e: unknown) {
    if (!(e instanceof CodecError)) throw e;
    expect([400, 413]).toContain(e.status);
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(bytes: Uint8Array, muts: readonly fc.Arbitrary<never>[] | readonly { kind: string; at: number; value?: number }[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of muts as readonly { kind: string; at: number; value?: number }[]) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value!;
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else b.splice(at, 0, m.value!);
  }
  return Uint8Array.from(b);
}

describe('fuzz: only CodecError, never another exception', () => {
  it('random bytes as snappy bodies and as protobuf, both versions, and as remote-read requests', () => {
    const seed = propertySeed('fuzz random');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const version of [1, 2] as const) {
          onlyCodecErrors(() => decodeWriteRequest(bytes, { version, maxDecodedBytes: LIMIT }));
          onlyCodecErrors(() => decodeWriteRequestProto(bytes, version));
        }
        onlyCodecErrors(() => decodeReadRequest(bytes, { maxDecodedBytes: LIMIT }));
        onlyCodecErrors(() => snappyUncompress(bytes, LIMIT));
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('mutated valid requests (snappy bodies and raw protobuf)', () => {
    const seed = propertySeed('fuzz mutations');
    fc.assert(
      fc.property(fc.oneof(requestV1, requestV2), fc.array(mutation, { minLength: 1, maxLength: 4 }), (req, muts) => {
        const raw = encodeWriteRequest(req, req.version);
        const body = snappyCompress(raw);
        for (const version of [1, 2] as const) {
          onlyCodecErrors(() => decodeWriteRequest(mutate(body, muts), { version, maxDecodedBytes: LIMIT }));
          onlyCodecErrors(() => decodeWriteRequestProto(mutate(raw, muts), version));
        }
      }),
      { seed, numRuns: 400 },
    );
  });

  it('a 6-byte body declaring 4 GiB is refused with 413 before allocating', () => {
    let caught: unknown;
    try {
      decodeWriteRequest(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00), { version: 1, maxDecodedBytes: 64 << 20 });
    } catch (e: unknown) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CodecError);
    expect((caught as CodecError).status).toBe(413);
  });
});

const codePoints = (s: string): number => s.match(/./gsu)?.length ?? 0;

/** What checkWriteLimits must decide, written plainly (Buffer for UTF-8 lengths, a /u regex for code points). */
function violates(req: WriteRequest, l: WriteLimits): boolean {
  if (req.series.length > l.maxSeriesPerRequest) return true;
  const badTime = (t: number) => t < MIN_TIMESTAMP_MS || t > MAX_TIMESTAMP_MS;
  return req.series.some(
    (s) =>
      s.labels.length > l.maxLabelsPerSeries ||
      s.labels.some((x) => Buffer.byteLength(x.name) > l.maxLabelNameBytes || Buffer.byteLength(x.value) > l.maxLabelValueBytes) ||
      s.samples.some((x) => badTime(x.timestamp)) ||
      s.histograms.some((x) => badTime(x.timestamp)) ||
      s.exemplars.some((e) => badTime(e.timestamp) || e.labels.reduce((n, x) => n + codePoints(x.name) + codePoints(x.value), 0) > l.maxExemplarLabelRunes),
  );
}

describe('limits', () => {
  const limits: fc.Arbitrary<WriteLimits> = fc.record({
    maxLabelNameBytes: fc.integer({ min: 1, max: 16 }),
    maxLabelValueBytes: fc.integer({ min: 0, max: 24 }),
    maxLabelsPerSeries: fc.integer({ min: 1, max: 7 }),
    maxSeriesPerRequest: fc.integer({ min: 0, max: 6 }),
    maxExemplarLabelRunes: fc.integer({ min: 0, max: 40 }),
  });

  it('a request is refused with a 400 naming a series or the request exactly when it exceeds a limit or the timestamp range', () => {
    const seed = propertySeed('fuzz limits');
    fc.assert(
      fc.property(fc.oneof(requestV1, requestV2), limits, (req, l) => {
        const body = snappyCompress(encodeWriteRequest(req, req.version));
        let caught: unknown;
        try {
          decodeWriteRequest(body, { version: req.version, maxDecodedBytes: LIMIT, limits: l });
        } catch (e: unknown) {
          caught = e;
        }
        if (!violates(req, l)) {
          expect(caught).toBeUndefined();
          return;
        }
        expect(caught).toBeInstanceOf(CodecError);
        const err = caught as CodecError;
        expect(err.status).toBe(400);
        expect(['CODEC_ERR_LIMIT', 'CODEC_ERR_TIMESTAMP_RANGE']).toContain(err.code);
        if (req.series.length <= l.maxSeriesPerRequest) expect(violates({ ...req, series: [req.series[err.seriesIndex!]!] }, l)).toBe(true);
      }),
      { seed, numRuns: 600 },
    );
  });

  it('mutated requests decoded under tight limits, whole or after a peek: a 400/413 CodecError, or a request within every limit', () => {
    const seed = propertySeed('fuzz limits mutations');
    fc.assert(
      fc.property(fc.oneof(requestV1, requestV2), fc.array(mutation, { maxLength: 3 }), limits, (req, muts, l) => {
        const body = mutate(snappyCompress(encodeWriteRequest(req, req.version)), muts);
        const options = { version: req.version, maxDecodedBytes: LIMIT, limits: l };
        const decoders = [
          () => decodeWriteRequest(body, options),
          // The ingest's HA path: peek first, decode what is kept from the bytes already decompressed.
          () => peekWriteRequest(body, { ...options, labels: ['cluster', '__replica__'] }).decode(),
        ];
        for (const decode of decoders) {
          let decoded: WriteRequest | undefined;
          onlyCodecErrors(() => {
            decoded = decode();
          });
          if (decoded !== undefined) expect(violates(decoded, l)).toBe(false);
        }
      }),
      { seed, numRuns: 400 },
    );
  });

  it('too many series are refused for their count before any series is decoded (an invalid first series is not reached)', () => {
    for (const version of [1, 2] as const) {
      const series = ['BROKEN', 'b', 'c'].map((v) => ({ labels: [{ name: '__name__', value: v }], samples: [{ value: 1, timestamp: 1 }], histograms: [], exemplars: [] }));
      const raw = Buffer.from(encodeWriteRequest({ version, series, metadata: [] }, version));
      raw[raw.indexOf('BROKEN')] = 0xff; // invalid UTF-8 in series 0
      const body = snappyCompress(raw);
      const options = { version, maxDecodedBytes: LIMIT, limits: { ...DEFAULT_WRITE_LIMITS, maxSeriesPerRequest: 2 } };
      for (const decode of [() => decodeWriteRequest(body, options), () => peekWriteRequest(body, { ...options, labels: ['cluster', '__replica__'] }).decode()]) {
        expect(decode, `version ${version}`).toThrow(/request has 3 series, more than the limit of 2/);
      }
      expect(() => decodeWriteRequest(body, { ...options, limits: DEFAULT_WRITE_LIMITS }), `version ${version}`).toThrow(/UTF-8/);
    }
  });

  it('the defaults admit a 16 KiB value of multi-byte characters, 128 labels, and refuse one byte more', () => {
    const value = 'é'.repeat(8 * 1024); // 16 KiB in UTF-8, 8 Ki UTF-16 units
    const labels = [{ name: '__name__', value: 'm' }, ...Array.from({ length: 127 }, (_, i) => ({ name: `l${String(i).padStart(3, '0')}`, value }))];
    const req: WriteRequest = { version: 1, metadata: [], series: [{ labels, samples: [{ value: 1, timestamp: 1 }], histograms: [], exemplars: [] }] };
    const ok = decodeWriteRequest(snappyCompress(encodeWriteRequest(req, 1)), { version: 1, maxDecodedBytes: 64 << 20 });
    expect(ok.series[0]!.labels).toHaveLength(128);
    expect(ok.series[0]!.labels[1]!.value).toBe(value);
    const longer = { ...req, series: [{ ...req.series[0]!, labels: labels.map((x, i) => (i === 1 ? { ...x, value: `${value}a` } : x)) }] };
    expect(() => decodeWriteRequest(snappyCompress(encodeWriteRequest(longer, 1)), { version: 1, maxDecodedBytes: 64 << 20 })).toThrow(
      /series 0: value of label "l000" is longer than 16384 bytes/,
    );
    const more = { ...req, series: [{ ...req.series[0]!, labels: [...labels, { name: 'zz', value: 'x' }] }] };
    expect(() => decodeWriteRequest(snappyCompress(encodeWriteRequest(more, 1)), { version: 1, maxDecodedBytes: 64 << 20 })).toThrow(/129 labels/);
  });

  it('a label set the decoder has cached and checked once is checked again under other limits, and passes again under the same', () => {
    const labels = [
      { name: '__name__', value: 'cached_check' },
      { name: 'job', value: 'a-value-of-24-characters' },
    ];
    const req: WriteRequest = { version: 1, metadata: [], series: [{ labels, samples: [{ value: 1, timestamp: 1 }], histograms: [], exemplars: [] }] };
    const body = snappyCompress(encodeWriteRequest(req, 1));
    const first = decodeWriteRequest(body, { version: 1, maxDecodedBytes: LIMIT, limits: DEFAULT_WRITE_LIMITS });
    const again = decodeWriteRequest(body, { version: 1, maxDecodedBytes: LIMIT, limits: DEFAULT_WRITE_LIMITS });
    expect(again.series[0]!.labels).toBe(first.series[0]!.labels); // the cached set: its check is remembered
    const tight = { ...DEFAULT_WRITE_LIMITS, maxLabelValueBytes: 20 };
    expect(() => decodeWriteRequest(body, { version: 1, maxDecodedBytes: LIMIT, limits: tight })).toThrow(/value of label "job" is longer than 20 bytes/);
    const fewer = { ...DEFAULT_WRITE_LIMITS, maxLabelsPerSeries: 1 };
    expect(() => peekWriteRequest(body, { version: 1, maxDecodedBytes: LIMIT, limits: fewer, labels: ['cluster', '__replica__'] }).decode()).toThrow(/2 labels/);
    expect(decodeWriteRequest(body, { version: 1, maxDecodedBytes: LIMIT, limits: DEFAULT_WRITE_LIMITS }).series).toHaveLength(1);
  });

  it('NUL in 1.0 metadata and in 2.0 metadata help or unit is refused', () => {
    const v1: WriteRequest = { version: 1, series: [], metadata: [{ metricFamilyName: 'm', type: 'gauge', help: 'a\u0000b', unit: '' }] };
    expect(() => decodeWriteRequest(snappyCompress(encodeWriteRequest(v1, 1)), { version: 1, maxDecodedBytes: LIMIT })).toThrow(/NUL/);
    for (const md of [{ help: 'h\u0000', unit: '' }, { help: '', unit: 'u\u0000' }]) {
      const v2: WriteRequest = {
        version: 2,
        metadata: [],
        series: [
          {
            labels: [{ name: '__name__', value: 'm' }],
            samples: [{ value: 1, timestamp: 1 }],
            histograms: [],
            exemplars: [],
            metadata: { metricFamilyName: 'm', type: 'gauge', ...md },
          },
        ],
      };
      expect(() => decodeWriteRequest(snappyCompress(encodeWriteRequest(v2, 2)), { version: 2, maxDecodedBytes: LIMIT })).toThrow(/NUL/);
    }
  });
});
