import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  decodeReadRequest,
  encodeReadRequest,
  encodeReadResponse,
  snappyCompress,
  snappyDecoder,
  snappyUncompress,
  useNativeSnappy,
  type QueryResult,
  type ReadRequest,
} from './index.js';
import { propertySeed } from './test-util/arbitraries.js';
import { prometheus } from './test-util/oracle.js';

const snappyjs = createRequire(import.meta.url)('snappyjs') as {
  compress(b: Uint8Array): Uint8Array;
  uncompress(b: Uint8Array): Uint8Array;
};

describe('snappy block format', () => {
  it('round-trips and interoperates with snappyjs both ways', () => {
    const seed = propertySeed('snappy');
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }),
      // Repetitive data exercises copies, overlapping runs and 64 KiB block boundaries.
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5000 })).map(([chunk, times]) => {
        const out = new Uint8Array(chunk.length * times);
        for (let i = 0; i < times; i++) out.set(chunk, i * chunk.length);
        return out;
      }),
    );
    fc.assert(
      fc.property(data, (bytes) => {
        const ours = snappyCompress(bytes);
        expect(Buffer.from(snappyUncompress(ours, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
        expect(Buffer.from(snappyjs.uncompress(ours)).equals(Buffer.from(bytes))).toBe(true);
        expect(Buffer.from(snappyUncompress(snappyjs.compress(bytes), bytes.length)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { seed, numRuns: 150 },
    );
  });

  it('the native decoder is installed here (the optional `snappy` package), and ours can be chosen', () => {
    expect(snappyDecoder()).toBe('native');
    try {
      expect(useNativeSnappy(false)).toBe('js');
    } finally {
      expect(useNativeSnappy(true)).toBe('native');
    }
  });

  it('the native decoder and ours agree: the same bytes, or both a CodecError with the same status', () => {
    const seed = propertySeed('snappy native vs js');
    const outcome = (body: Uint8Array, cap: number): string => {
      try {
        return Buffer.from(snappyUncompress(body, cap)).toString('hex');
      } catch (e: unknown) {
        if (!(e instanceof CodecError)) throw e;
        return `error ${e.status}`;
      }
    };
    // Valid blocks, and the same blocks truncated, with a byte changed, or under a smaller cap.
    const body = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 300 }))
      .map(([chunk, times]) => snappyCompress(Uint8Array.from({ length: chunk.length * times }, (_, i) => chunk[i % chunk.length]!)));
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ b, cap: 1 << 20 })),
      body.map((b) => ({ b, cap: 1 << 20 })),
      fc.tuple(body, fc.nat(), fc.nat(255)).map(([b, at, v]) => {
        const m = Uint8Array.from(b);
        m[at % m.length] = v;
        return { b: m, cap: 1 << 20 };
      }),
      fc.tuple(body, fc.nat()).map(([b, n]) => ({ b: b.subarray(0, n % b.length), cap: 1 << 20 })),
      fc.tuple(body, fc.nat(20_000)).map(([b, cap]) => ({ b, cap })),
    );
    fc.assert(
      fc.property(input, ({ b, cap }) => {
        const native = outcome(b, cap);
        useNativeSnappy(false);
        try {
          expect(outcome(b, cap)).toBe(native);
        } finally {
          useNativeSnappy(true);
        }
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('refuses a declared length above the cap (413) and corrupt blocks (400)', () => {
    const body = snappyCompress(new Uint8Array(1000).fill(7));
    expect(() => snappyUncompress(body, 999)).toThrow(expect.objectContaining({ code: 'CODEC_ERR_TOO_LARGE', status: 413 }));
    expect(() => snappyUncompress(body.subarray(0, body.length - 1), 1000)).toThrow(CodecError);
    // A copy reaching before the start of the output.
    expect(() => snappyUncompress(Uint8Array.of(4, 0x01 | (0 << 2), 5), 10)).toThrow(expect.objectContaining({ code: 'CODEC_ERR_SNAPPY' }));
    // Output shorter than declared.
    expect(() => snappyUncompress(Uint8Array.of(5, 0x00, 0x41), 10)).toThrow(expect.objectContaining({ code: 'CODEC_ERR_SNAPPY' }));
  });
});

describe('remote read', () => {
  const request: ReadRequest = {
    queries: [
      {
        startTimestampMs: 1_700_000_000_000,
        endTimestampMs: 1_700_000_300_000,
        matchers: [
          { type: 'EQ', name: '__name__', value: 'up' },
          { type: 'RE', name: 'job', value: 'node|api' },
          { type: 'NEQ', name: 'cluster', value: '' },
          { type: 'NRE', name: 'pod', value: 'x.*' },
        ],
        hints: { stepMs: 15_000, func: 'rate', startMs: 1, endMs: 2, grouping: ['job'], by: true, rangeMs: 300_000 },
      },
      { startTimestampMs: 5, endTimestampMs: 10, matchers: [{ type: 'EQ', name: '__name__', value: 'x' }] },
    ],
    acceptedResponseTypes: ['STREAMED_XOR_CHUNKS', 'SAMPLES'],
  };

  it('decodes a ReadRequest as protobufjs encodes it', () => {
    const theirs = prometheus.ReadRequest.encode(
      prometheus.ReadRequest.fromObject({
        queries: [
          {
            startTimestampMs: 1_700_000_000_000,
            endTimestampMs: 1_700_000_300_000,
            matchers: [
              { name: '__name__', value: 'up' },
              { type: 2, name: 'job', value: 'node|api' },
              { type: 1, name: 'cluster' },
              { type: 3, name: 'pod', value: 'x.*' },
            ],
            hints: { stepMs: 15_000, func: 'rate', startMs: 1, endMs: 2, grouping: ['job'], by: true, rangeMs: 300_000 },
          },
          { startTimestampMs: 5, endTimestampMs: 10, matchers: [{ name: '__name__', value: 'x' }] },
        ],
        acceptedResponseTypes: [1, 0],
      }),
    ).finish();
    expect(decodeReadRequest(snappyCompress(theirs), { maxDecodedBytes: 1 << 20 })).toEqual(request);
    expect(Buffer.from(snappyUncompress(encodeReadRequest(request), 1 << 20)).equals(Buffer.from(theirs))).toBe(true);
  });

  it('encodes a SAMPLES ReadResponse that protobufjs decodes', () => {
    const results: QueryResult[] = [
      {
        timeseries: [
          {
            labels: [
              { name: '__name__', value: 'up' },
              { name: 'job', value: 'node' },
            ],
            samples: [
              { value: 1, timestamp: 1_700_000_000_000 },
              { value: 0, timestamp: 1_700_000_015_000 },
            ],
            histograms: [],
          },
        ],
      },
      { timeseries: [] },
    ];
    const decoded = prometheus.ReadResponse.toObject(prometheus.ReadResponse.decode(snappyUncompress(encodeReadResponse(results), 1 << 20)), {
      defaults: false,
    });
    expect(decoded).toEqual({
      results: [
        {
          timeseries: [
            {
              labels: [
                { name: '__name__', value: 'up' },
                { name: 'job', value: 'node' },
              ],
              samples: [{ value: 1, timestamp: 1_700_000_000_000 }, { timestamp: 1_700_000_015_000 }],
            },
          ],
        },
        {},
      ],
    });
  });

  it('rejects unknown matcher types and malformed requests with CodecError', () => {
    const bad = prometheus.ReadRequest.encode(prometheus.ReadRequest.fromObject({ queries: [{ matchers: [{ type: 9, name: 'a' }] }] })).finish();
    expect(() => decodeReadRequest(snappyCompress(bad), { maxDecodedBytes: 1 << 20 })).toThrow(CodecError);
    expect(() => decodeReadRequest(snappyCompress(Uint8Array.of(0x0a, 0x05, 0x08)), { maxDecodedBytes: 1 << 20 })).toThrow(CodecError);
  });
});
